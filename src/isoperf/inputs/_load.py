"""Read a protocol from a TOML path, a TOML string or a dict, turning pydantic errors into InputErrors."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from isoperf._errors import InputError, InputErrors
from isoperf.inputs._schema import ProtocolSpec


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class under ``root`` that owns the field at ``loc`` (to suggest the closest key)."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return None
        found = None
        stack = [field.annotation]
        while stack and found is None:
            ann = stack.pop()
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                found = ann
            stack.extend(getattr(ann, "__args__", ()))
        if found is None:
            return None
        model = found
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def input_errors(err: ValidationError, root: type[BaseModel], what: str) -> InputErrors:
    """Turn a pydantic ValidationError on ``root`` into InputErrors naming each field (``what``: the file kind)."""
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
        if e["type"] == "extra_forbidden":
            owner = _model_at(root, loc)
            keys = list(owner.model_fields) if owner else []
            close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(keys)}"
            out.append(InputError(field or what, "unknown key", hint))
        elif e["type"] == "missing":
            out.append(InputError(field, "is missing", "this key is required"))
        else:
            out.append(InputError(field or what, f"got {e.get('input')!r}", e["msg"]))
    return InputErrors(out)


def read_toml(source: str | Path, what: str = "protocol") -> dict[str, Any]:
    """A TOML file (path) or TOML text as a dict; a missing file or a syntax error names ``what``."""
    path = Path(source) if not (isinstance(source, str) and "\n" in source) else None
    if path is not None:
        if not path.exists():
            raise InputError(what, f"file {str(path)!r} not found", "give the path of a .toml file")
        text = path.read_text(encoding="utf-8")
    else:
        text = str(source)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(what, f"is not valid TOML ({exc})", "check the line it names") from None


def load_protocol(source: str | Path | dict[str, Any] | ProtocolSpec) -> ProtocolSpec:
    """Load and validate a protocol (structure only; quantities are checked when the model is built)."""
    if isinstance(source, ProtocolSpec):
        return source
    raw = source if isinstance(source, dict) else read_toml(source)
    if "protocols" in raw and "procedures" not in raw:
        raise InputError("protocol", "is a comparison file (it lists [[protocols]], not [[procedures]])",
                         "run it with `isoperf compare FILE`")
    try:
        return ProtocolSpec.model_validate(raw)
    except ValidationError as exc:
        raise input_errors(exc, ProtocolSpec, "protocol") from None
