"""What every checker shares: the result a student reads, and safe calls into student code."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

_CHECKS = str(Path(__file__).resolve().parent)
_forbidden: list = []  # the book's own implementations of what the running check asks for


class CheckResult:
    """Outcome of a check; truthy when passed. Its repr is the message a student reads."""

    def __init__(self, passed: bool, message: str):
        self.passed = passed
        self.message = message

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("✓ " if self.passed else "✗ ") + self.message


class _Failed(Exception):
    """Internal: carries the one-sentence reason a check failed."""


def _call(fn, name: str, *args, **kwargs):
    if fn is None or not callable(fn):
        raise _Failed(f"expected a function for {name}, got {type(fn).__name__}")
    try:
        with _watch(_forbidden) as used:
            result = fn(*args, **kwargs)
    except NotImplementedError:
        raise _Failed(f"{name} is not implemented yet: replace `raise NotImplementedError` "
                      "with your code") from None
    except Exception as err:  # the student's code failed: report it in one line
        text = str(err).splitlines()[0] if str(err) else ""
        hint = ("; after a transpose or permute the tensor is not contiguous, and .view needs "
                "contiguous memory: use .reshape" if "view size is not compatible" in text else "")
        raise _Failed(f"{name} raised {type(err).__name__}: {text}{hint}") from None
    if used:
        raise _Failed(f"{name} calls {used[0]}, which already computes what this exercise asks "
                      "for: write the computation yourself (PyTorch's tensor operations are fine)")
    return result


class _watch:
    """Record calls, while the student's code runs, into any of ``forbidden`` (Python functions
    or PyTorch built-ins) or into the checkers' own code (their reference answers)."""

    def __init__(self, forbidden):
        # by identity: code objects compare equal by content, and a student may retype code
        self.codes = {id(f.__code__): f for f in forbidden if hasattr(f, "__code__")}
        self.builtins = [f for f in forbidden if not hasattr(f, "__code__")]
        self.used: list = []

    def _profile(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if id(code) in self.codes:
                self.used.append(_qualified(self.codes[id(code)]))
            elif code.co_filename.startswith(_CHECKS) and code.co_filename != __file__ \
                    and "<" not in _name_of(code):
                # a checker's reference answer (the toy models it hands over are lambdas)
                self.used.append(f"`{frame.f_globals.get('__name__')}.{_name_of(code)}`")
        elif event == "c_call" and any(arg is f for f in self.builtins):
            self.used.append(_qualified(arg))

    def __enter__(self) -> list:
        self.previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self.used

    def __exit__(self, *exc) -> None:
        sys.setprofile(self.previous)


def _name_of(code) -> str:
    return getattr(code, "co_qualname", code.co_name)  # co_qualname: Python 3.11+


def _qualified(fn) -> str:
    module = getattr(fn, "__module__", None) or "torch"
    if module.startswith("torch._C"):
        module = "torch.nn.functional"
    return f"`{module}.{getattr(fn, '__qualname__', getattr(fn, '__name__', fn))}`"


def _tensor(value, name: str, shape: tuple) -> torch.Tensor:
    if value is None:
        raise _Failed(f"{name} returned None; did you forget `return`?")
    if not torch.is_tensor(value):
        raise _Failed(f"{name} returned a {type(value).__name__}, expected a tensor of shape {shape}")
    if tuple(value.shape) != shape:
        raise _Failed(f"{name} returned shape {tuple(value.shape)} but expected {shape}")
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise _Failed(f"{name} returned NaN or infinite values")
    return value


def _diagnose(got: torch.Tensor, expected: torch.Tensor, mistakes: list, otherwise: str) -> None:
    """Pass when ``got`` matches ``expected``; else fail with the message of the first known
    mistake ``(wrong_value, message)`` that ``got`` matches, or with ``otherwise``."""
    _same_dtype(got, expected, "your result")
    if torch.allclose(got, expected, atol=1e-5):
        return
    for wrong, message in mistakes:
        if wrong.shape == got.shape and torch.allclose(got, wrong, atol=1e-5):
            raise _Failed(message)
    raise _Failed(otherwise)


def _source(fn) -> str:
    """``fn``'s source, or "" when it cannot be read."""
    import inspect

    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return ""


def _python_loops(fn) -> list:
    """The kinds of Python loop in ``fn``'s source ("for", "while", "comprehension"), or [] when
    it has none or its source cannot be read (then nothing is claimed)."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return []
    kinds = {ast.For: "for", ast.AsyncFor: "for", ast.While: "while", ast.ListComp: "comprehension",
             ast.SetComp: "comprehension", ast.DictComp: "comprehension",
             ast.GeneratorExp: "comprehension"}
    return sorted({kinds[type(node)] for node in ast.walk(tree) if type(node) in kinds})


def _same_dtype(got: torch.Tensor, expected: torch.Tensor, name: str) -> None:
    """Fail with a sentence naming the dtype when ``got`` is not of ``expected``'s dtype."""
    if got.dtype == expected.dtype:
        return
    if expected.is_floating_point() and not got.is_floating_point():
        raise _Failed(f"{name} has dtype {got.dtype}, expected floating-point values "
                      f"({expected.dtype}): an integer or bool conversion loses them")
    raise _Failed(f"{name} has dtype {got.dtype}, expected {expected.dtype}, the dtype of the "
                  "inputs: compute in the inputs' dtype (no .double(), .half() or .float() "
                  "conversions)")


def _run(check=None, *, forbid: tuple = ()):
    """Decorate a check: its failures become a CheckResult sentence. ``forbid`` names the book's
    own implementations (and PyTorch built-ins) of what the exercise asks for; an answer that
    calls one of them fails with a sentence saying so."""
    if check is None:
        return lambda check: _run(check, forbid=forbid)

    def wrapper(fn) -> CheckResult:
        _forbidden[:] = forbid
        try:
            message = check(fn)
        except _Failed as failure:
            return CheckResult(False, str(failure))
        except Exception as err:  # the answer broke the check itself: still one sentence
            text = str(err).splitlines()[0] if str(err) else ""
            hint = (" — the result's dtype differs from the expected one: keep the inputs' dtype"
                    if "dtype" in text or "did not match" in text or "expected scalar type" in text
                    else "")
            return CheckResult(False, f"the check could not use your answer ({type(err).__name__}: "
                                      f"{text}){hint}")
        finally:
            _forbidden[:] = []
        return CheckResult(True, message)
    wrapper.__name__ = check.__name__
    wrapper.__doc__ = check.__doc__
    return wrapper


class _trace:
    """While active, record the first call of each named submodule of ``module``:
    ``records[name] = (first tensor argument, output)`` (the first element of a tuple output).
    The hooks live in this file, so the watch above does not take them for a reference answer."""

    def __init__(self, module: torch.nn.Module, names):
        self.module, self.names, self.records, self.handles = module, list(names), {}, []

    def _hook(self, name):
        def record(module, args, kwargs, output):
            if name in self.records:
                return
            given = [a for a in args if torch.is_tensor(a)] + \
                    [v for v in kwargs.values() if torch.is_tensor(v)]
            out = output[0] if isinstance(output, tuple) else output
            self.records[name] = (given[0].detach().clone() if given else None,
                                  out.detach().clone() if torch.is_tensor(out) else None)
        return record

    def __enter__(self) -> dict:
        modules = dict(self.module.named_modules())
        for name in self.names:
            if name in modules:
                self.handles.append(modules[name].register_forward_hook(
                    self._hook(name), with_kwargs=True))
        return self.records

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()
