"""A minimal GGUF v3 writer (F32 tensors; string, u32, f32 and array metadata), written from the
format's documentation (ggml docs/gguf.md) for the reference tests: gguf-py is not in
Debian, and the C++ test writer would make the C++ loader check itself."""
import struct

import numpy as np

ALIGNMENT = 32
_U32, _I32, _F32, _STRING, _ARRAY = 4, 5, 6, 8, 9
_GGML_F32 = 0


def _string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _pad(n):
    return (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT


def _value(value):
    """Type tag and encoding of a str, int (u32), float (f32) or a list of one of them
    (ints in a list are i32, as token_type is)."""
    if isinstance(value, str):
        return _STRING, _string(value)
    if isinstance(value, int):
        return _U32, struct.pack("<I", value)
    if isinstance(value, float):
        return _F32, struct.pack("<f", value)
    if isinstance(value, list) and value:
        if isinstance(value[0], int):
            elem, body = _I32, b"".join(struct.pack("<i", v) for v in value)
        else:
            elem = _value(value[0])[0]
            body = b"".join(_value(v)[1] for v in value)
        return _ARRAY, struct.pack("<IQ", elem, len(value)) + body
    raise TypeError(type(value))


def write(path, metadata, tensors):
    """metadata: {key: value} (see _value); tensors: {name: numpy array}, any shape, written
    as F32 with GGUF's dims innermost first (the reverse of numpy's)."""
    kv = b""
    for key, value in metadata.items():
        tag, body = _value(value)
        kv += _string(key) + struct.pack("<I", tag) + body
    infos, data = b"", b""
    for name, array in tensors.items():
        a = np.ascontiguousarray(array, dtype="<f4")
        data += b"\0" * _pad(len(data))
        infos += _string(name) + struct.pack("<I", a.ndim)
        infos += b"".join(struct.pack("<Q", d) for d in reversed(a.shape))
        infos += struct.pack("<IQ", _GGML_F32, len(data))
        data += a.tobytes()
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)) + kv + infos
    with open(path, "wb") as f:
        f.write(head + b"\0" * _pad(len(head)) + data)
