"""The Typer app and the one place where errors turn into exit codes.

Every command module registers on ``app``; commands parse options, call the library and print.
A :class:`~cnncompile.errors.CnnCompileError` is a user's mistake: one line on stderr, exit 2.
Anything else is a bug: a one-line summary, exit 1. ``--debug`` shows the traceback.
"""

from __future__ import annotations

import functools
import io
import os
import sys
from collections.abc import Callable

import typer

from ..errors import CnnCompileError

app = typer.Typer(
    name="cnncompile",
    help="Compile textbook layer-list CNN specs: analyze them, train them in NumPy, export ONNX.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs reflow to the terminal width
    context_settings={"help_option_names": ["-h", "--help"]},
)

state = {"debug": False}


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
) -> None:
    """Compile textbook layer-list CNN specs: analyze them, train them in NumPy, export ONNX."""
    state["debug"] = debug


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again.

    The reader of our output has gone (``| head -1``); Python's documentation on SIGPIPE
    recommends exactly this.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real file (a test runner's buffer): nothing will flush it at exit


def handle_errors(fn: Callable) -> Callable:
    """Decorator: user mistakes -> one line + exit 2; bugs -> one line + exit 1.

    SIGTERM and SIGHUP unwind like Ctrl-C (temporary files removed, exit 128 + signal); a
    closed standard output ends quietly with exit 141.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from ..artifacts.files import (
            Terminated,
            release_run_locks,
            remove_live_temp_files,
            signals_as_exceptions,
        )

        try:
            with signals_as_exceptions():
                result = fn(*args, **kwargs)
                sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return result
        except BrokenPipeError:
            _quiet_stdout()
            raise typer.Exit(141) from None  # 128 + SIGPIPE, as a shell reports it
        except Terminated as e:
            remove_live_temp_files()
            raise fail(f"terminated ({e})", e.exit_code) from None
        except CnnCompileError as e:
            if state["debug"]:
                raise
            raise fail(str(e), 2) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            remove_live_temp_files()
            raise fail("interrupted", 130) from None
        except Exception as e:  # a bug in cnncompile: say so in one line
            if state["debug"]:
                raise
            raise fail(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the "
                       "traceback)", 1) from None
        finally:
            release_run_locks()  # a run folder is held for one command, never longer

    return wrapper


def command(*args, **kwargs):
    """``app.command`` with :func:`handle_errors` applied."""

    def deco(fn):
        return app.command(*args, **kwargs)(handle_errors(fn))

    return deco
