def create(**kwargs):
    pass
