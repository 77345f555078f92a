"""``python -m compat_init``: the same as the ``compat-init`` command."""
from compat_init.cli import entrypoint

if __name__ == "__main__":
    entrypoint()
