"""PNG charts for the bench scripts: matplotlib (pinned in bench/requirements.txt), Agg backend.

Every chart carries, in a footer, the command line that made it and the date, so a PNG found
in docs/img/ says how to make it again. Charts are optional: matplotlib is not imported until a
script is asked for one, and then require_matplotlib() fails early (before any benchmark runs)
with the install command on stderr and exit status 2 when matplotlib is missing.
"""
import datetime
import os
import shlex
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIREMENTS = "bench/requirements.txt"


def require_matplotlib(option):
    """Returns matplotlib.pyplot on the non-interactive Agg backend. Exits with status 2 and a
    message naming `option` and the install command when matplotlib cannot be imported."""
    try:
        import matplotlib
    except ImportError:
        print(f"{os.path.basename(sys.argv[0])}: {option} draws a chart with matplotlib, which "
              f"is not installed; install it with\n"
              f"  python3 -m pip install -r {REQUIREMENTS}\n"
              f"(or run scripts/setup.sh), or leave out {option}", file=sys.stderr)
        raise SystemExit(2)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def command_line():
    """The command as typed, with the script named by its path in the repository, after the
    SIGNER_BUILD_DIR setting when there is one (it chooses the binaries measured)."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO)
    build = os.environ.get("SIGNER_BUILD_DIR")
    prefix = f"SIGNER_BUILD_DIR={shlex.quote(build)} " if build else ""
    return prefix + shlex.join([script] + sys.argv[1:])


def footer(fig, note=""):
    """Writes the command line and, below it, the date and `note` along the bottom edge of
    `fig` (leave it ~0.07 of the figure's height)."""
    text = (f"made by: {command_line()}\n"
            f"on {datetime.date.today().isoformat()}{'; ' + note if note else ''}")
    fig.text(0.01, 0.01, text, fontsize=7, color="#555555", ha="left", va="bottom",
             linespacing=1.4)


def save(fig, path):
    """Saves `fig` as a PNG at 100 dpi (creating the directory) and says where on stderr."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"chart written to {path} ({os.path.getsize(path) / 1024:.0f} KB)", file=sys.stderr)
