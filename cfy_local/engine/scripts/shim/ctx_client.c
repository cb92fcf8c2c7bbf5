/*
 * The `ctx` command of cfy-local script operations, native build.
 *
 * Same wire protocol and behaviour as _cfy_local_ctx_cli.py (the Python client, always
 * available); this one exists only because a script calls `ctx` many times and a C
 * process starts in about a millisecond, against ten or more for Python. cfy-local
 * compiles it on first use when a C compiler is present and caches the binary.
 *
 *   request:  "CTX1\0" token "\0" arg1 "\0" arg2 ...
 *   response: "<exit code> <stdout length>\n" stdout-bytes stderr-bytes
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static const char CLOSED_MESSAGE[] =
    "ctx: the context proxy of this operation is closed: the operation has ended, "
    "and ctx can only be used while its operation runs\n";

static int fail(const char *message) {
    fputs(message, stderr);
    return 1;
}

static int write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += written;
        length -= (size_t)written;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *socket_url = NULL;
    double timeout = 30.0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) break;
        if ((strcmp(arg, "-t") == 0 || strcmp(arg, "--timeout") == 0) && i + 1 < argc) {
            char *end;
            double value = strtod(argv[++i], &end);
            if (*end == '\0' && value > 0) timeout = value;
        } else if (strncmp(arg, "--timeout=", 10) == 0) {
            char *end;
            double value = strtod(arg + 10, &end);
            if (*end == '\0' && value > 0) timeout = value;
        } else if (strcmp(arg, "--socket-url") == 0 && i + 1 < argc) {
            socket_url = argv[++i];
        } else if (strncmp(arg, "--socket-url=", 13) == 0) {
            socket_url = arg + 13;
        }
    }
    if (socket_url == NULL) socket_url = getenv("CTX_SOCKET_URL");
    if (socket_url == NULL || socket_url[0] == '\0')
        return fail("ctx: Missing CTX_SOCKET_URL environment variable or socket_url command line argument\n");
    if (strncmp(socket_url, "unix://", 7) != 0) {
        fprintf(stderr, "ctx: Unsupported protocol in %s (the ctx proxy of cfy-local listens on a unix:// socket)\n",
                socket_url);
        return 1;
    }
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    const char *path = socket_url + 7;
    if (strlen(path) >= sizeof address.sun_path) return fail("ctx: the ctx proxy socket path is too long\n");
    strcpy(address.sun_path, path);

    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return fail("ctx: cannot create a socket\n");
    struct timeval limit;
    limit.tv_sec = (time_t)timeout;
    limit.tv_usec = (suseconds_t)((timeout - (double)limit.tv_sec) * 1e6);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        if (errno == ENOENT || errno == ECONNREFUSED) return fail(CLOSED_MESSAGE);
        fprintf(stderr, "ctx: cannot reach the ctx proxy: %s\n", strerror(errno));
        return 1;
    }

    const char *token = getenv("CFY_LOCAL_CTX_TOKEN");
    if (token == NULL) token = "";
    size_t length = 5 + strlen(token);
    for (int i = 1; i < argc; i++) length += 1 + strlen(argv[i]);
    char *request = malloc(length);
    if (request == NULL) return fail("ctx: out of memory\n");
    memcpy(request, "CTX1", 5); /* includes the NUL separator */
    size_t at = 5;
    size_t token_length = strlen(token);
    memcpy(request + at, token, token_length);
    at += token_length;
    for (int i = 1; i < argc; i++) {
        request[at++] = '\0';
        size_t arg_length = strlen(argv[i]);
        memcpy(request + at, argv[i], arg_length);
        at += arg_length;
    }
    if (write_all(fd, request, at) != 0) return fail(CLOSED_MESSAGE);
    free(request);
    shutdown(fd, SHUT_WR);

    size_t capacity = 65536, size = 0;
    char *response = malloc(capacity);
    if (response == NULL) return fail("ctx: out of memory\n");
    for (;;) {
        if (size == capacity) {
            capacity *= 2;
            char *grown = realloc(response, capacity);
            if (grown == NULL) return fail("ctx: out of memory\n");
            response = grown;
        }
        ssize_t got = read(fd, response + size, capacity - size);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                fprintf(stderr, "ctx: no answer from the ctx proxy within %g seconds\n", timeout);
                return 1;
            }
            return fail(CLOSED_MESSAGE);
        }
        if (got == 0) break;
        size += (size_t)got;
    }
    close(fd);
    if (size == 0) return fail(CLOSED_MESSAGE);
    char *newline = memchr(response, '\n', size);
    if (newline == NULL) return fail("ctx: unexpected answer from the ctx proxy\n");
    *newline = '\0';
    int exit_code;
    unsigned long stdout_length;
    if (sscanf(response, "%d %lu", &exit_code, &stdout_length) != 2)
        return fail("ctx: unexpected answer from the ctx proxy\n");
    char *body = newline + 1;
    size_t body_length = size - (size_t)(body - response);
    if (stdout_length > body_length) stdout_length = body_length;
    write_all(1, body, stdout_length);
    write_all(2, body + stdout_length, body_length - stdout_length);
    return exit_code;
}
