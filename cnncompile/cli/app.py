"""The Typer app and the one place where errors turn into exit codes.

Every command module registers on ``app``; commands parse options, call the library and print.
A :class:`~cnncompile.errors.CnnCompileError` is a user's mistake: one line on stderr, exit 2.
So is a command-line mistake (a bad option value, a missing argument, an unknown option):
:class:`OneLineUsageErrors` prints it as one line instead of Typer's usage box.
Anything else is a bug: a one-line summary, exit 1. ``--debug`` shows the traceback.
"""

from __future__ import annotations

import functools
import io
import os
import sys
from collections.abc import Callable

import typer
from typer.core import TyperGroup

from ..errors import CnnCompileError

try:  # typer 0.28 runs on its own copy of click; earlier versions on the click package
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors

# click >= 8.2 raises this for a bare group call; it carries the help text, not a mistake
_HELP_NOT_ERROR = getattr(click_errors, "NoArgsIsHelpError", ())


def usage_error_line(e) -> str:
    """``error: <where>: <what>`` for a click usage error: where is the option (or argument)
    for a bad value, else the command."""
    command = e.ctx.command_path if e.ctx is not None else "cnncompile"
    if isinstance(e, click_errors.MissingParameter) and e.param is not None:
        kind = "argument" if e.param.param_type_name == "argument" else "option"
        name = e.param.opts[0] if kind == "option" else (e.param.name or "").upper()
        return f"error: {command}: missing {kind} {name} (see {command} --help)"
    if isinstance(e, click_errors.BadParameter):
        where = e.param_hint or (e.param.opts[0] if e.param is not None and e.param.opts
                                 else command)
        if not isinstance(where, str):
            where = " / ".join(where)
        return f"error: {where}: {' '.join(e.message.split()).rstrip('.')}"
    if isinstance(e, click_errors.NoSuchOption):
        near = sorted(e.possibilities or ())
        hint = f" (did you mean {' or '.join(near)}?)" if near else f" (see {command} --help)"
        return f"error: {command}: no such option {e.option_name}{hint}"
    text = " ".join(e.format_message().split()).rstrip(".")
    return f"error: {command}: {text[:1].lower()}{text[1:]}"


class OneLineUsageErrors(TyperGroup):
    """The app's group: a usage mistake is one line on stderr and exit 2, never a usage box."""

    def make_context(self, *args, **kwargs):
        return self._one_line(super().make_context, *args, **kwargs)

    def invoke(self, ctx):
        return self._one_line(super().invoke, ctx)

    @staticmethod
    def _one_line(step, *args, **kwargs):
        try:
            return step(*args, **kwargs)
        except click_errors.UsageError as e:
            if isinstance(e, _HELP_NOT_ERROR) or state["debug"]:
                raise
            from ..artifacts.text import printable

            print(printable(usage_error_line(e)), file=sys.stderr)
            raise typer.Exit(2) from None


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"cnncompile {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=OneLineUsageErrors,
    name="cnncompile",
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
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print cnncompile's version and exit."),
) -> None:
    """Compile textbook layer-list CNN specs: analyze and draw them, train them (NumPy or
    PyTorch), export them to ONNX, quantize and serve them.

    Example: `cnncompile analyze specs/ch9/residual_flower.yaml`; every command's --help shows
    one of its own.
    """
    state["debug"] = debug


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise.

    Control characters are shown escaped, never sent: a file name with a newline cannot forge a
    second ``error:`` line, nor an escape sequence clear the screen.
    """
    from ..artifacts.text import printable

    print(f"error: {printable(message)}", file=sys.stderr)
    return typer.Exit(code)


def warn(message: str) -> None:
    """Print ``warning: message`` on stderr, control characters escaped (as :func:`fail`)."""
    from ..artifacts.text import printable

    print(f"warning: {printable(message)}", file=sys.stderr)


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
        from ..artifacts.inputs import command_inputs

        try:
            with signals_as_exceptions(), command_inputs():
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
            if isinstance(e, OSError) and e.filename is not None:
                # the system refused a path the user gave (a name over 255 bytes, no access,
                # a full or read-only disk): the user's to fix, named with the reason
                raise fail(f"{e.filename}: {e.strerror or type(e).__name__}", 2) from None
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
