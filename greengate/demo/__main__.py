"""`python -m greengate.demo` = `greengate demo`."""

from greengate.demo.cli import app

if __name__ == "__main__":
    app(prog_name="greengate demo")
