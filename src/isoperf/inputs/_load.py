"""Read a protocol from a TOML path, a TOML string or a dict, turning pydantic errors into InputErrors."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from isoperf._errors import InputError, InputErrors
from isoperf.inputs._schema import ProtocolSpec


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``loc`` (to suggest the closest key)."""
    model: Any = ProtocolSpec
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return None
        ann = field.annotation
        for cand in getattr(ann, "__args__", ()) or (ann,):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                model = cand
                break
            for inner in getattr(cand, "__args__", ()):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    model = inner
                    break
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _convert(err: ValidationError) -> InputErrors:
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
        if e["type"] == "extra_forbidden":
            owner = _model_at(loc)
            keys = list(owner.model_fields) if owner else []
            close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(keys)}"
            out.append(InputError(field or "protocol", "unknown key", hint))
        elif e["type"] == "missing":
            out.append(InputError(field, "is missing", "this key is required"))
        else:
            out.append(InputError(field or "protocol", f"got {e.get('input')!r}", e["msg"]))
    return InputErrors(out)


def load_protocol(source: str | Path | dict[str, Any] | ProtocolSpec) -> ProtocolSpec:
    """Load and validate a protocol (structure only; quantities are checked when the model is built)."""
    if isinstance(source, ProtocolSpec):
        return source
    if isinstance(source, dict):
        raw = source
    else:
        text: str
        path = Path(source) if not (isinstance(source, str) and "\n" in source) else None
        if path is not None:
            if not path.exists():
                raise InputError("protocol", f"file {str(path)!r} not found", "give the path of a .toml protocol")
            text = path.read_text(encoding="utf-8")
        else:
            text = str(source)
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError("protocol", f"is not valid TOML ({exc})", "check the line it names") from None
    try:
        return ProtocolSpec.model_validate(raw)
    except ValidationError as exc:
        raise _convert(exc) from None
