"""A minimal GGUF v3 writer (F32 tensors; string, u32 and f32 metadata), written from the
format's documentation (ggml docs/gguf.md) for the reference tests: gguf-py is not in
Debian, and the C++ test writer would make the C++ loader check itself."""
import struct

import numpy as np

ALIGNMENT = 32
_U32, _F32, _STRING = 4, 6, 8
_GGML_F32 = 0


def _string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _pad(n):
    return (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT


def write(path, metadata, tensors):
    """metadata: {key: str | int (u32) | float (f32)}; tensors: {name: numpy array}, any
    shape, written as F32 with GGUF's dims innermost first (the reverse of numpy's)."""
    kv = b""
    for key, value in metadata.items():
        if isinstance(value, str):
            kv += _string(key) + struct.pack("<I", _STRING) + _string(value)
        elif isinstance(value, int):
            kv += _string(key) + struct.pack("<II", _U32, value)
        elif isinstance(value, float):
            kv += _string(key) + struct.pack("<If", _F32, value)
        else:
            raise TypeError(f"{key}: {type(value)}")
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
