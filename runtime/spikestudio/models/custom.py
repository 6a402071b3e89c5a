"""The researcher's own model: `model.arch: custom` with `model.source` / `model.entry` / `model.args`, or a name
registered with ``@spikestudio.register_model`` in a file listed under `model.plugins`.

    build_custom(cfg) -> CustomModel      # nn.Module with the built-in models' interface

The entry (a class or a factory) is called with `model.args` as keyword arguments; parameters named `time_steps`,
`num_classes`, `in_channels` or `img_size` that `model.args` does not set get the model section's values. Its
forward takes the batch as the built-in models do -- images (B, C, H, W) or event frames (B, T, C, H, W) -- and
returns logits (B, classes) or per time step (T, B, classes) (a tuple's first item is used).

`CustomModel` resets the neuron state before every forward (SpikingJelly, snnTorch, `reset()` of marked neurons:
`spikestudio.probe.reset_state`), checks the output shape and turns an exception raised in the researcher's code into
a `UserCodeError` naming that file and line. Workspace code is imported only when the environment does not say the
workspace is restricted (`SPIKESTUDIO_RESTRICTED=1`, set by the extension in an untrusted workspace).
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from spikestudio.errors import ConfigError, SpikeStudioError, UserCodeError
from spikestudio.models.registry import get_model_builder, list_models

INJECTED = ("time_steps", "num_classes", "in_channels", "img_size")
_RUNTIME_DIR = str(Path(__file__).resolve().parents[1])


def restricted() -> bool:
    return os.environ.get("SPIKESTUDIO_RESTRICTED", "") not in ("", "0")


def _check_trusted(key: str) -> None:
    if restricted():
        raise ConfigError(key, "workspace code is not run in a restricted (untrusted) workspace",
                          "Trust the workspace (Manage Workspace Trust) to train or describe a custom model.")


def _resolve(path: str, base: Optional[str], key: str) -> Path:
    if not isinstance(path, str) or not path:
        raise ConfigError(key, f"must be a path to a .py file, got {path!r}")
    p = Path(path)
    if not p.is_absolute() and base:
        p = Path(base) / p
    p = p.resolve()
    if not p.is_file():
        raise ConfigError(key, f"file not found: {p}", "paths are relative to the config file's folder")
    if p.suffix != ".py":
        raise ConfigError(key, f"{p.name} is not a Python file (.py)")
    return p


def user_frame(tb, roots: list[str]) -> tuple[Optional[str], Optional[int]]:
    """(file, line) of the innermost traceback frame in the researcher's code: under one of `roots`, else outside
    spikestudio, torch and the site-packages."""
    frames = traceback.extract_tb(tb)
    best = None
    for fr in frames:
        f = os.path.abspath(fr.filename)
        if any(f.startswith(r.rstrip(os.sep) + os.sep) or f == r for r in roots):
            best = fr
    if best is None:
        for fr in frames:
            f = os.path.abspath(fr.filename)
            if f.startswith(_RUNTIME_DIR) or "site-packages" in f or "dist-packages" in f or f.startswith("<"):
                continue
            if f.startswith(os.path.dirname(torch.__file__)) or f.startswith(os.path.dirname(os.__file__)):
                continue
            best = fr
    return (os.path.abspath(best.filename), best.lineno) if best else (None, None)


def as_user_error(exc: BaseException, stage: str, roots: list[str], what: str) -> SpikeStudioError:
    """The UserCodeError for an exception from the researcher's code (SpikeStudioErrors pass unchanged)."""
    if isinstance(exc, SpikeStudioError):
        return exc
    if isinstance(exc, SyntaxError) and exc.filename:
        return UserCodeError(f"{what}: SyntaxError: {exc.msg}", os.path.abspath(exc.filename), exc.lineno,
                             "fix the syntax error", stage)
    file, line = user_frame(exc.__traceback__, roots)
    first = (str(exc).strip().splitlines() or [""])[0]
    where = f" ({Path(file).name}:{line})" if file else ""
    return UserCodeError(f"{what}: {type(exc).__name__}: {first}{where}", file, line, None, stage)


_loaded: dict[str, Any] = {}


def import_file(path: Path, key: str):
    """Import a workspace .py file as a module named after it (its folder goes on sys.path for its own imports)."""
    _check_trusted(key)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = path.stem if path.stem.isidentifier() else "spikestudio_user_" + str(abs(hash(str(path))))
    existing = sys.modules.get(name)
    if existing is not None and os.path.abspath(getattr(existing, "__file__", "") or "") != str(path):
        name = f"spikestudio_user_{name}"
    spec = importlib.util.spec_from_file_location(name, str(path))
    if spec is None or spec.loader is None:
        raise ConfigError(key, f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - anything the file raises on import is the researcher's to fix
        sys.modules.pop(name, None)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise as_user_error(exc, "import", [folder], f"importing {path.name}") from None
    _loaded[str(path)] = module
    return module


def load_plugins(cfg: dict, base: Optional[str]) -> list[Path]:
    plugins = cfg.get("plugins") or []
    if isinstance(plugins, str):
        plugins = [plugins]
    if not isinstance(plugins, list):
        raise ConfigError("model.plugins", "must be a list of .py files")
    paths = []
    for i, p in enumerate(plugins):
        path = _resolve(p, base, f"model.plugins[{i}]")
        import_file(path, f"model.plugins[{i}]")
        paths.append(path)
    return paths


def resolve_entry(cfg: dict, base: Optional[str] = None):
    """(entry callable, display name, [roots]) for a custom or plugin model section."""
    arch = cfg.get("arch")
    base = base or cfg.get("base_dir")
    plugin_paths = load_plugins(cfg, base)
    roots = [str(p.parent) for p in plugin_paths]
    if arch == "custom":
        src = cfg.get("source")
        if src is None:
            raise ConfigError("model.source", "missing: model.arch custom needs model.source (a .py file) and model.entry")
        path = _resolve(src, base, "model.source")
        entry = cfg.get("entry")
        if not isinstance(entry, str) or not entry:
            raise ConfigError("model.entry", "missing: the class or function in model.source that builds the model")
        module = import_file(path, "model.source")
        obj = module
        for part in entry.split("."):
            if not hasattr(obj, part):
                names = [n for n, v in vars(module).items() if not n.startswith("_") and callable(v)
                         and getattr(v, "__module__", None) == module.__name__]
                close = difflib.get_close_matches(part, names, n=1)
                raise ConfigError("model.entry", f"{path.name} has no {entry!r}",
                                  f"did you mean {close[0]!r}?" if close else
                                  (f"defined there: {', '.join(names[:8])}" if names else None))
            obj = getattr(obj, part)
        if not callable(obj):
            raise ConfigError("model.entry", f"{entry!r} in {path.name} is not a class or function")
        return obj, f"{path.name}:{entry}", [str(path.parent)] + roots
    try:
        return get_model_builder(arch), str(arch), roots
    except KeyError:
        close = difflib.get_close_matches(str(arch), list_models() + ["custom"], n=1)
        raise ConfigError("model.arch", f"unknown architecture {arch!r}",
                          (f"did you mean {close[0]!r}? " if close else "")
                          + "A model of your own: arch: custom with source/entry, or list its file under model.plugins") from None


def entry_signature(fn) -> Optional[inspect.Signature]:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def check_args(fn, args: dict, cfg: dict, name: str) -> dict:
    """The keyword arguments to call the entry with (model.args + injected section values); ConfigError on an
    argument the entry does not take (with did-you-mean) or a required one that is missing."""
    if not isinstance(args, dict):
        raise ConfigError("model.args", f"must be a mapping of keyword arguments, got {type(args).__name__}")
    sig = entry_signature(fn)
    kwargs = dict(args)
    if sig is None:
        return kwargs
    params = sig.parameters
    if list(params) == ["cfg"]:
        return {"cfg": cfg}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items() if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    if not var_kw:
        for k in args:
            if k not in named:
                close = difflib.get_close_matches(k, named, n=1)
                raise ConfigError(f"model.args.{k}", f"{name} takes no argument {k!r}",
                                  f"did you mean {close[0]!r}?" if close else
                                  f"its arguments: {', '.join(named) or '(none)'}")
    for k in INJECTED:
        if k in named and k not in kwargs and cfg.get(k) is not None:
            kwargs[k] = cfg[k]
    for n, p in params.items():
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY) \
                and p.default is inspect.Parameter.empty and n not in kwargs:
            raise ConfigError("model.args", f"{name} needs argument {n!r}", f"add it under model.args: {n}: ...")
    return kwargs


class CustomModel(nn.Module):
    """The researcher's network (`self.net`) with the built-in models' interface: `arch`, `cfg`, `time_steps`,
    `num_classes`, `token_grid`, forward(x, per_step=False) -> (B, classes) or (T, B, classes)."""

    describe_kind = "model"
    probe_root = "net"  # firing and energy events name layers as the researcher's network does (probe.named_layers)

    def __init__(self, net: nn.Module, cfg: dict, name: str, roots: list[str]):
        super().__init__()
        self.net = net
        self.cfg = cfg
        self.arch = str(cfg.get("arch", "custom"))
        self.entry_name = name
        self.time_steps = int(cfg.get("time_steps") or getattr(net, "time_steps", 1) or 1)
        self.num_classes = int(cfg.get("num_classes") or 0)
        grid = getattr(net, "token_grid", None)
        self.token_grid = (int(grid[0]), int(grid[1])) if grid is not None else (0, 0)
        self._roots = list(roots)

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        from spikestudio.probe import reset_state

        reset_state(self.net)
        if torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            out = self.net(x)
        else:
            try:
                out = self.net(x)
            except (SpikeStudioError, torch.OutOfMemoryError, KeyboardInterrupt):
                raise
            except Exception as exc:  # noqa: BLE001
                if "out of memory" in str(exc).lower():
                    raise
                raise as_user_error(exc, "forward", self._roots, f"{self.entry_name} forward") from None
        return self._logits(out, x, per_step)

    def _logits(self, out, x: torch.Tensor, per_step: bool) -> torch.Tensor:
        if isinstance(out, (tuple, list)) and out:
            out = out[0]
        B, C = x.shape[0], self.num_classes
        ok = isinstance(out, torch.Tensor) and out.dim() in (2, 3) and out.shape[-2] == B and (C == 0 or out.shape[-1] == C)
        if not ok:
            got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
            raise UserCodeError(f"{self.entry_name} forward returned {got}; expected (B, classes) = ({B}, {C}) or "
                                f"(T, B, classes) = (T, {B}, {C})", *self._entry_location(), stage="forward",
                                hint="return the logits (averaged over time steps, or one row per step)")
        if out.dim() == 2:
            return out.unsqueeze(0) if per_step else out
        return out if per_step else out.mean(0)

    def _entry_location(self) -> tuple[Optional[str], Optional[int]]:
        try:
            fwd = type(self.net).forward
            return inspect.getsourcefile(fwd), inspect.getsourcelines(fwd)[1]
        except (TypeError, OSError):
            return None, None


def build_custom(cfg: dict, base: Optional[str] = None) -> nn.Module:
    """Build the custom / plugin model of a normalised model section."""
    base = base or cfg.get("base_dir")
    fn, name, roots = resolve_entry(cfg, base)
    kwargs = check_args(fn, cfg.get("args") or {}, cfg, name)
    try:
        net = fn(**kwargs)
    except SpikeStudioError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise as_user_error(exc, "construct", roots, f"building {name}") from None
    if not isinstance(net, nn.Module):
        raise UserCodeError(f"{name} returned {type(net).__name__}, not a torch.nn.Module", stage="construct")
    if all(hasattr(net, a) for a in ("arch", "cfg", "time_steps", "token_grid")) and "per_step" in entry_params(net.forward):
        return net  # already speaks the built-in interface
    return CustomModel(net, cfg, name, roots)


def entry_params(fn) -> list[str]:
    sig = entry_signature(fn)
    return list(sig.parameters) if sig else []


def describe_entry(cfg: dict, base: Optional[str] = None) -> dict:
    """The entry's signature and docstring (the editor's hover on model.entry and the args check)."""
    fn, name, _ = resolve_entry(cfg, base)
    sig = entry_signature(fn)
    params = []
    if sig is not None:
        for n, p in sig.parameters.items():
            if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            item: dict[str, Any] = {"name": n, "required": p.default is inspect.Parameter.empty}
            if p.default is not inspect.Parameter.empty:
                item["default"] = repr(p.default)
            if p.annotation is not inspect.Parameter.empty:
                item["annotation"] = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", repr(p.annotation))
            params.append(item)
    try:
        file, line = inspect.getsourcefile(fn), inspect.getsourcelines(fn)[1]
    except (TypeError, OSError):
        file, line = None, None
    return {"name": name, "signature": f"{getattr(fn, '__name__', name)}{sig}" if sig else name,
            "doc": inspect.getdoc(fn) or "", "params": params, "file": file, "line": line}
