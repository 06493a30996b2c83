"""The model image (docs/image-format.md): dataclasses, load, save, validation.

It lives in the top package because training, the golden model and the
hardware compiler all read it; none of them should import another to get it.

Every consumer (golden engine, hardware compiler, training exporter) goes through
`from_manifest`, so an image that loads is an image every part of the project can
run: a bad image is refused here, once, with a message naming the field and layer.
"""

import difflib
import importlib.util
import json
import os
import math
import tokenize
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from atsnn import AtsnnError

FORMAT = "atsnn-model-image"
VERSION = 1
LAYER_KINDS = ("conv", "linear", "maxpool", "output")
SPIKING_KINDS = ("conv", "linear")
EDGE_OPS = ("conv", "linear")
RESET_MODES = ("subtract", "zero")
INPUT_KINDS = ("static", "events")
#: How a recording is binned into the T_max frames of an events input, recorded as
#: input.encoding "frames:count" or "frames:time" (atsnn.data.events_to_frames).
FRAME_MODES = ("count", "time")
ARRAY_DTYPES = (np.int8, np.int16, np.int32, np.int64)

# Bounds on what an image may declare (docs/image-format.md, "Size bounds"): far
# above every shipped model and the vgg16/resnet19 CIFAR presets (at --width 4),
# low enough that a manifest cannot make a loader or the engine allocate without
# end. They bound declarations, not what fits the accelerator (atsnn.rtl.compiler).
MAX_T_MAX = 256              # timesteps
MAX_CHANNELS = 65536         # C of a [C, H, W] shape, N of an [N] shape
MAX_SIZE = 4096              # H and W; a maxpool kernel
MAX_NEURONS = 1 << 22        # C * H * W of one layer (or of the input)
MAX_KERNEL = 64              # conv kernel and stride
MAX_PADDING = 64             # conv padding
MAX_LAYERS = 256
MAX_EDGES = 16               # input edges of one layer
MAX_ARRAY_ELEMENTS = 1 << 26 # entries of one weight array
MAX_MANIFEST_BYTES = 64 << 20
#: The engine holds every membrane, accumulator and exit margin in int64: a margin
#: of two acc_bits values needs acc_bits + 1 signed bits (see contract.md).
MAX_ACC_BITS = 63
MIN_MEMBRANE_BITS = 2

#: Manifest fields by object; a field not listed is refused (a typo must not be
#: silently ignored).
TOP_FIELDS = ("format", "version", "name", "t_max", "tau", "classes", "input", "layers")
INPUT_FIELDS = ("kind", "shape", "bits", "zero_point", "scale", "encoding")
LAYER_FIELDS = {
    "conv": ("name", "kind", "shape", "inputs", "weight_bits", "bias", "theta", "leak_shift",
             "reset", "scale"),
    "output": ("name", "kind", "shape", "inputs", "weight_bits", "bias", "theta", "scale"),
    "maxpool": ("name", "kind", "shape", "source", "kernel"),
}
LAYER_FIELDS["linear"] = LAYER_FIELDS["conv"]
ANY_LAYER_FIELDS = tuple(dict.fromkeys(f for fields in LAYER_FIELDS.values() for f in fields))
EDGE_FIELDS = {"conv": ("source", "op", "weight", "kernel", "stride", "padding"),
               "linear": ("source", "op", "weight")}
#: The shipped models stay package data of atsnn.golden; find_spec locates that
#: package without importing it (it imports this module).
MODELS_DIR = Path(importlib.util.find_spec("atsnn.golden").submodule_search_locations[0]) / "models"
#: Shipped model images by name: every image directory in ``golden/models``,
#: and "reference" for the hand-built MNIST network.
BUILTIN_MODELS = {"reference": MODELS_DIR / "mnist-ref",
                  **{p.parent.name: p.parent for p in sorted(MODELS_DIR.glob("*/manifest.json"))}}
#: Model images too large to ship, built by ``make paper-models`` (atsnn.model.paper)
#: into :func:`model_cache_dir`, where ``--model NAME`` finds them.
CACHED_MODELS = ("vgg16-cifar10", "resnet19-cifar10")


def model_cache_dir():
    """``$ATSNN_MODEL_CACHE``, or ``~/.cache/atsnn/models``."""
    return Path(os.environ.get("ATSNN_MODEL_CACHE") or Path.home() / ".cache" / "atsnn" / "models")


class ModelImageError(AtsnnError):
    """A model image that is malformed or does not fit the hardware widths."""


@dataclass
class Input:
    kind: str = "static"
    shape: tuple = (1, 28, 28)
    bits: int = 8
    zero_point: int = 0
    scale: float = 1.0
    encoding: str = "pixels"


@dataclass
class Edge:
    """One input edge of a layer: `op` "conv" (weight [C_out, C_in, k, k]) or
    "linear" (weight [N_out, prod(source shape)])."""
    source: str
    op: str
    weight: np.ndarray
    kernel: int | None = None
    stride: int | None = None
    padding: int | None = None


@dataclass
class Layer:
    """A layer. conv/linear (spiking) use inputs, weight_bits, bias, theta,
    leak_shift, reset; output uses inputs, weight_bits, bias; maxpool uses
    source and kernel."""
    name: str
    kind: str
    shape: tuple | None = None
    inputs: list = field(default_factory=list)
    weight_bits: int | None = None
    bias: np.ndarray | None = None
    theta: np.ndarray | None = None
    leak_shift: int | None = None
    reset: str | None = None
    scale: float | None = None
    source: str | None = None
    kernel: int | None = None

    @property
    def spiking(self):
        return self.kind in SPIKING_KINDS


@dataclass
class ModelImage:
    name: str
    t_max: int
    tau: list
    classes: list
    input: Input
    layers: list

    @property
    def output(self):
        return self.layers[-1]

    def layer(self, name):
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def source_shape(self, name):
        return tuple(self.input.shape) if name == "input" else tuple(self.layer(name).shape)


# ---------------------------------------------------------------- builders

def conv_edge(source, weight, stride=1, padding=0):
    weight = np.asarray(weight)
    return Edge(source, "conv", weight, kernel=int(weight.shape[-1]), stride=stride,
                padding=padding)


def linear_edge(source, weight):
    return Edge(source, "linear", np.asarray(weight))


def spiking_layer(name, kind, inputs, bias, theta, leak_shift=0, reset="subtract",
                  weight_bits=8, shape=None, scale=None):
    """A conv or linear LIF layer; `theta` may be a scalar (same for every channel)."""
    n = _out_channels(inputs)
    return Layer(name, kind, shape, list(inputs), weight_bits, _per_channel(bias, n),
                 _per_channel(theta, n), leak_shift, reset, scale)


def output_layer(name, inputs, bias=0, weight_bits=8, scale=None):
    n = _out_channels(inputs)
    return Layer(name, "output", [n] if n else None, list(inputs), weight_bits,
                 _per_channel(bias, n), scale=scale)


def maxpool_layer(name, source, kernel):
    return Layer(name, "maxpool", None, source=source, kernel=kernel)


def build(name, input, layers, t_max, tau=None, classes=None, membrane_bits=24,
          acc_bits=32):
    """A ModelImage from NumPy arrays (what the exporter and the tests use): fills
    missing layer shapes, defaults tau to all-disabled and classes to "0".."K-1",
    then validates exactly as `load` does."""
    if tau is None:
        tau = [None] * (t_max - 1)
    shapes = {"input": tuple(input.shape)}
    for layer in layers:
        if layer.shape is None:
            layer.shape = _infer_shape(layer, shapes)
        shapes[layer.name] = tuple(layer.shape) if layer.shape is not None else None
    if classes is None:
        classes = [str(k) for k in range(int(layers[-1].shape[0]))] if layers and layers[-1].shape else []
    image = ModelImage(name, t_max, list(tau), list(classes), input, list(layers))
    return validate(image, membrane_bits, acc_bits)


def _out_channels(inputs):
    if not inputs or getattr(inputs[0], "weight", None) is None:
        return None
    return int(np.shape(inputs[0].weight)[0])


def _per_channel(value, n):
    if value is None or np.ndim(value) > 0 or n is None:
        return None if value is None else np.asarray(value)
    return np.full(n, int(value), dtype=np.int64)


def _infer_shape(layer, shapes):
    try:
        if layer.kind == "maxpool":
            c, h, w = shapes[layer.source]
            return [c, h // layer.kernel, w // layer.kernel]
        edge = layer.inputs[0]
        n_out = int(np.shape(edge.weight)[0])
        if layer.kind == "conv":
            _, h, w = shapes[edge.source]
            k, s, p = edge.kernel, edge.stride, edge.padding
            return [n_out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1]
        return [n_out]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None  # validation names the problem


# ---------------------------------------------------------------- manifest <-> image

def to_manifest(image):
    """(manifest dict, arrays dict) for a ModelImage; arrays get layer-derived names and
    the smallest integer dtype holding them."""
    arrays = {}

    def put(name, value):
        if value is None:
            return None
        a = np.asarray(value)
        arrays[name] = _compact(a)
        return name

    inp = image.input
    manifest = {
        "format": FORMAT, "version": VERSION, "name": image.name, "t_max": image.t_max,
        "tau": list(image.tau) if image.tau is not None else None,
        "classes": list(image.classes) if image.classes is not None else None,
        "input": {"kind": inp.kind, "shape": _listify(inp.shape), "bits": inp.bits,
                  "zero_point": inp.zero_point, "scale": inp.scale,
                  "encoding": inp.encoding},
        "layers": [],
    }
    for layer in image.layers:
        d = {"name": layer.name, "kind": layer.kind, "shape": _listify(layer.shape)}
        if layer.kind == "maxpool":
            d.update(source=layer.source, kernel=layer.kernel)
        else:
            edges = []
            for i, e in enumerate(layer.inputs):
                wname = f"{layer.name}.w" if i == 0 else f"{layer.name}.w{i}"
                ed = {"source": e.source, "op": e.op, "weight": put(wname, e.weight)}
                if e.op == "conv":
                    ed.update(kernel=e.kernel, stride=e.stride, padding=e.padding)
                edges.append(ed)
            d.update(inputs=edges, weight_bits=layer.weight_bits,
                     bias=put(f"{layer.name}.b", layer.bias))
            if layer.kind != "output":
                d.update(theta=put(f"{layer.name}.theta", layer.theta),
                         leak_shift=layer.leak_shift, reset=layer.reset)
            if layer.scale is not None:
                d["scale"] = layer.scale
        manifest["layers"].append(d)
    return manifest, arrays


def _listify(shape):
    return None if shape is None else [int(s) if isinstance(s, (int, np.integer)) else s for s in shape]


def _compact(a):
    if a.dtype.kind not in "iu" or a.size == 0:
        return a
    lo, hi = int(a.min()), int(a.max())
    for dt in ARRAY_DTYPES:
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return a.astype(dt)
    return a


def validate(image, membrane_bits=24, acc_bits=32):
    """Validate a programmatically built ModelImage (same checks as `load`); returns
    the normalized ModelImage (int64 arrays, tuples for shapes)."""
    manifest, arrays = to_manifest(image)
    return from_manifest(manifest, arrays, membrane_bits, acc_bits)


# ---------------------------------------------------------------- load / save

def load(path, membrane_bits=24, acc_bits=32):
    """Read an image (directory with manifest.json + arrays.npz, or one .npz with
    `__manifest__`) and validate it against the given hardware widths. Only the
    arrays the manifest names are read, each checked against the shape and dtype
    validation expects from its .npy header before anything is allocated."""
    path = Path(path)
    if path.is_dir():
        mpath, apath = path / "manifest.json", path / "arrays.npz"
        if not mpath.is_file():
            raise ModelImageError(f"{path}: not a model image (no manifest.json)")
        try:
            size = mpath.stat().st_size
            if size <= MAX_MANIFEST_BYTES:
                manifest = json.loads(mpath.read_text())
        except (OSError, ValueError, RecursionError) as e:
            raise ModelImageError(f"{mpath}: cannot read manifest JSON ({_reason(e)})") from None
        if size > MAX_MANIFEST_BYTES:
            raise ModelImageError(f"{mpath}: manifest is {size} bytes, more than the "
                                  f"{MAX_MANIFEST_BYTES} a model image may have")
        if not apath.exists():
            return from_manifest(manifest, {}, membrane_bits, acc_bits)
        with NpzArrays(apath) as arrays:
            return from_manifest(manifest, arrays, membrane_bits, acc_bits)
    if path.is_file():
        with NpzArrays(path) as arrays:
            if "__manifest__" not in arrays:
                raise ModelImageError(f"{path}: not a model image (no __manifest__ array)")
            raw = arrays.read_bytes("__manifest__", MAX_MANIFEST_BYTES)
            try:
                manifest = json.loads(raw.decode())
            except (ValueError, UnicodeDecodeError, RecursionError) as e:
                raise ModelImageError(f"{path}: __manifest__ is not valid JSON "
                                      f"({_reason(e)})") from None
            return from_manifest(manifest, arrays, membrane_bits, acc_bits)
    raise ModelImageError(f"{path}: model image not found")


def _reason(e):
    if isinstance(e, RecursionError):
        return "nested too deeply"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


#: What a broken or truncated zip archive can raise while it is read.
_ZIP_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error,
               NotImplementedError, RuntimeError,
               tokenize.TokenError)   # numpy's parser of a spoilt .npy header


class NpzArrays:
    """The arrays of an .npz archive, read one at a time: `header(name)` gives
    (shape, dtype) from the member's .npy header, `read(name)` the array. Nothing
    is read that is not asked for, so a member nobody names costs nothing."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.zip = zipfile.ZipFile(self.path)
            self.members = {n[:-4]: n for n in self.zip.namelist() if n.endswith(".npy")}
        except _ZIP_ERRORS as e:
            raise self._error(e) from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def __contains__(self, name):
        return name in self.members

    def _error(self, e, name=None):
        what = f"array '{name}'" if name else "arrays"
        return ModelImageError(f"{self.path}: cannot read {what} ({_reason(e)})")

    def _open_header(self, name):
        """(open member positioned after its header, shape, dtype, fortran_order)."""
        f = self.zip.open(self.members[name])
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except BaseException:
            f.close()
            raise
        return f, tuple(shape), dtype, fortran

    def header(self, name):
        """(shape, dtype) the member declares."""
        try:
            f, shape, dtype, _ = self._open_header(name)
            f.close()
        except _ZIP_ERRORS as e:
            raise self._error(e, name) from None
        return shape, dtype

    def read(self, name):
        """The array; call `header` first and check what it declares."""
        try:
            f, shape, dtype, fortran = self._open_header(name)
            with f:
                if dtype.hasobject:
                    raise ValueError(f"dtype {dtype} holds Python objects")
                nbytes = math.prod(shape) * dtype.itemsize
                data = f.read(nbytes)
                if len(data) != nbytes:
                    raise ValueError(f"truncated: {len(data)} of the {nbytes} bytes its "
                                     f"header declares ({list(shape)} {dtype})")
        except _ZIP_ERRORS as e:
            raise self._error(e, name) from None
        return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")

    def read_bytes(self, name, limit):
        """A 1-D uint8 member as bytes (at most `limit` of them)."""
        shape, dtype = self.header(name)
        if dtype != np.uint8 or len(shape) != 1:
            raise ModelImageError(f"{self.path}: array '{name}' must be 1-D uint8, got "
                                  f"{dtype} {list(shape)}")
        if shape[0] > limit:
            raise ModelImageError(f"{self.path}: array '{name}' has {shape[0]} bytes, more "
                                  f"than the {limit} a model image may have")
        return self.read(name).tobytes()


def save(image, path):
    """Write `image` as a directory (manifest.json + arrays.npz), or as one file
    when `path` ends in .npz."""
    manifest, arrays = to_manifest(image)
    text = manifest_text(manifest)
    path = Path(path)
    if path.suffix == ".npz":
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, __manifest__=np.frombuffer(text.encode(), np.uint8), **arrays)
    else:
        path.mkdir(parents=True, exist_ok=True)
        (path / "manifest.json").write_text(text + "\n")
        np.savez(path / "arrays.npz", **arrays)
    return path


def manifest_text(manifest):
    """JSON with one line per top-level field and one line per layer (diffable)."""
    top = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in manifest.items() if k != "layers"]
    layers = ",\n".join(f"  {json.dumps(layer)}" for layer in manifest.get("layers", []))
    return "{\n" + ",\n".join(top) + ',\n "layers": [\n' + layers + "\n ]\n}"


def resolve_model(name_or_path):
    """Path of a model given on a command line: a built-in name ("reference") or a
    path to an image."""
    if name_or_path in BUILTIN_MODELS:
        return BUILTIN_MODELS[name_or_path]
    if name_or_path in CACHED_MODELS:
        path = model_cache_dir() / name_or_path
        if not (path / "manifest.json").is_file():
            raise ModelImageError(f"model {name_or_path!r} is not built: run `make paper-models` "
                                  f"(a few minutes; writes {model_cache_dir()})")
        return path
    path = Path(name_or_path)
    if not path.exists():
        names = ", ".join([*BUILTIN_MODELS, *CACHED_MODELS])
        raise ModelImageError(f"model {name_or_path!r} is neither a built-in model ({names}) "
                         "nor an existing image path")
    return path


def load_model(name_or_path, membrane_bits=24, acc_bits=32):
    return load(resolve_model(name_or_path), membrane_bits, acc_bits)


# ---------------------------------------------------------------- validation

def _fail(where, msg):
    raise ModelImageError(f"{where}: {msg}")


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _field(d, key, where, kind, default=...):
    """d[key] checked against kind: "int", "str", "list", "dict", "number"."""
    if not isinstance(d, dict):
        _fail(where, f"must be a JSON object, got {type(d).__name__}")
    if key not in d:
        if default is not ...:
            return default
        _fail(where, f"missing field '{key}'")
    v = d[key]
    ok = {"int": _is_int(v), "str": isinstance(v, str), "list": isinstance(v, list),
          "dict": isinstance(v, dict),
          "number": (_is_int(v) or isinstance(v, float)) and not isinstance(v, bool)}[kind]
    if not ok:
        _fail(where, f"field '{key}' must be {kind_name(kind)}, got {v!r}")
    if kind == "number" and not math.isfinite(v):
        _fail(where, f"field '{key}' must be a finite number, got {v!r}")
    return int(v) if kind == "int" else v


def kind_name(kind):
    return {"int": "an integer", "str": "a string", "list": "a list",
            "dict": "an object", "number": "a number"}[kind]


def _int_range(d, key, where, lo, hi, default=...):
    v = _field(d, key, where, "int", default)
    if not lo <= v <= hi:
        _fail(where, f"field '{key}' = {v} out of range {lo}..{hi}")
    return v


def _known_fields(d, where, known):
    """Refuse a field `known` does not list, naming the nearest known one."""
    if not isinstance(d, dict):
        _fail(where, f"must be a JSON object, got {type(d).__name__}")
    for key in d:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{near[0]}'?" if near else f"known: {', '.join(known)}"
            _fail(where, f"unknown field {key!r} ({hint})")


def _shape(d, where, ndims):
    shape = _field(d, "shape", where, "list")
    if len(shape) not in ndims or not all(_is_int(s) and s > 0 for s in shape):
        want = " or ".join(f"{n} positive integers" for n in ndims)
        _fail(where, f"field 'shape' must be {want}, got {shape!r}")
    shape = tuple(int(s) for s in shape)
    if shape[0] > MAX_CHANNELS or any(s > MAX_SIZE for s in shape[1:]):
        _fail(where, f"field 'shape' = {list(shape)}: channels may be at most {MAX_CHANNELS}, "
                     f"height and width at most {MAX_SIZE}")
    if math.prod(shape) > MAX_NEURONS:
        _fail(where, f"field 'shape' = {list(shape)} has {math.prod(shape)} entries, at most "
                     f"{MAX_NEURONS} allowed")
    return shape


def _array(d, key, arrays, where, shape, per_channel_scalar=False):
    """The integer array named by d[key] (int64), checked against shape. A plain
    integer is accepted where the format allows a scalar (same for every channel)."""
    if key not in d:
        _fail(where, f"missing field '{key}'")
    ref = d[key]
    if per_channel_scalar and _is_int(ref):
        return np.full(shape, int(ref), dtype=np.int64)
    if not isinstance(ref, str):
        what = "name an array or be an integer" if per_channel_scalar else "name an array"
        _fail(where, f"field '{key}' must {what}, got {ref!r}")
    if ref not in arrays:
        _fail(where, f"field '{key}': array '{ref}' not found in the image's arrays")
    lazy = isinstance(arrays, NpzArrays)
    if lazy:     # check what the .npy header declares before reading a byte of data
        a_shape, a_dtype = arrays.header(ref)
    else:
        a = np.asarray(arrays[ref])
        a_shape, a_dtype = a.shape, a.dtype
    if a_dtype.type not in ARRAY_DTYPES:
        _fail(where, f"field '{key}': array '{ref}' has dtype {a_dtype}, expected an "
                     "integer dtype (int8, int16, int32, int64)")
    if tuple(a_shape) != tuple(shape):
        _fail(where, f"field '{key}': array '{ref}' has shape {list(a_shape)}, "
                     f"expected {list(shape)}")
    if lazy:
        a = arrays.read(ref)
    return a.astype(np.int64)


def _fits(a, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return a.size == 0 or (int(a.min()) >= lo and int(a.max()) <= hi)


def from_manifest(manifest, arrays, membrane_bits=24, acc_bits=32):
    """Validate a manifest dict and its arrays; return the ModelImage."""
    where = "manifest"
    _check_widths(membrane_bits, acc_bits)
    _known_fields(manifest, where, TOP_FIELDS)
    fmt = _field(manifest, "format", where, "str")
    if fmt != FORMAT:
        _fail(where, f"field 'format' is {fmt!r}, expected {FORMAT!r}")
    version = _field(manifest, "version", where, "int")
    if version != VERSION:
        _fail(where, f"field 'version' = {version} is not supported (this loader reads version {VERSION})")
    name = _field(manifest, "name", where, "str")
    t_max = _int_range(manifest, "t_max", where, 1, MAX_T_MAX)
    tau = _field(manifest, "tau", where, "list")
    if len(tau) != t_max - 1:
        _fail(where, f"field 'tau' has {len(tau)} entries, expected t_max - 1 = {t_max - 1}")
    for i, v in enumerate(tau):
        if v is not None and not _is_int(v):
            _fail(where, f"field 'tau' entry {i} must be an integer or null, got {v!r}")
        if v is not None and not _fits(np.array([v]), acc_bits + 1):
            _fail(where, f"field 'tau' entry {i} = {v} does not fit {acc_bits + 1} signed bits")
    tau = [None if v is None else int(v) for v in tau]
    classes = _field(manifest, "classes", where, "list")
    if len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        _fail(where, f"field 'classes' must be a list of at least 2 strings, got {classes!r}")

    inp = _parse_input(_field(manifest, "input", where, "dict"))
    layer_dicts = _field(manifest, "layers", where, "list")
    if not layer_dicts:
        _fail(where, "field 'layers' is empty")
    if len(layer_dicts) > MAX_LAYERS:
        _fail(where, f"field 'layers' has {len(layer_dicts)} layers, at most {MAX_LAYERS} allowed")
    layers, shapes = [], {"input": inp.shape}
    for i, d in enumerate(layer_dicts):
        layers.append(_parse_layer(d, i, len(layer_dicts), inp, layers, shapes, arrays))
    image = ModelImage(name, t_max, tau, list(classes), inp, layers)
    out = image.output
    if out.shape[0] != len(classes):
        _fail(f"layer '{out.name}'", f"output size {out.shape[0]} differs from the "
                                     f"{len(classes)} entries of field 'classes'")
    _check_bounds(image, membrane_bits, acc_bits)
    return image


def _check_widths(membrane_bits, acc_bits):
    """The hardware widths the image is checked against; the engine holds them in
    int64 (MAX_ACC_BITS)."""
    where = "hardware widths"
    for name, v in (("membrane_bits", membrane_bits), ("acc_bits", acc_bits)):
        if not _is_int(v) or not MIN_MEMBRANE_BITS <= v <= MAX_ACC_BITS:
            _fail(where, f"{name} = {v!r} out of range {MIN_MEMBRANE_BITS}..{MAX_ACC_BITS} "
                         "(the golden engine holds membranes and accumulators in int64)")
    if membrane_bits > acc_bits:
        _fail(where, f"need membrane_bits <= acc_bits, got membrane_bits = {membrane_bits}, "
                     f"acc_bits = {acc_bits}")


def _parse_input(d):
    where = "input"
    _known_fields(d, where, INPUT_FIELDS)
    kind = _field(d, "kind", where, "str")
    if kind not in INPUT_KINDS:
        _fail(where, f"field 'kind' is {kind!r}, expected one of {', '.join(INPUT_KINDS)}")
    shape = _shape(d, where, (1, 3))
    bits = _int_range(d, "bits", where, 1, 16, default=8 if kind == "static" else 1)
    if kind == "events" and bits != 1:
        _fail(where, f"field 'bits' = {bits}, but events input must have bits = 1")
    zero_point = _int_range(d, "zero_point", where, 0, (1 << bits) - 1, default=0)
    if kind == "events" and zero_point != 0:
        _fail(where, "field 'zero_point' must be 0 for events input")
    scale = float(_field(d, "scale", where, "number", default=1.0))
    encoding = _field(d, "encoding", where, "str", default="pixels" if kind == "static" else "frames")
    if encoding.startswith("frames:") and encoding[len("frames:"):] not in FRAME_MODES:
        _fail(where, f"field 'encoding' is {encoding!r}, expected "
                     f"{' or '.join(repr('frames:' + m) for m in FRAME_MODES)}")
    return Input(kind, shape, bits, zero_point, scale, encoding)


def frame_mode(inp):
    """The binning ("count" or "time") an events input records in its encoding, to
    turn recordings into its frames the way it was trained; an image that does not
    say is refused rather than guessed (the two give different accuracy)."""
    if inp.kind == "events" and inp.encoding.startswith("frames:"):
        mode = inp.encoding[len("frames:"):]
        if mode in FRAME_MODES:
            return mode
    _fail("input", f"field 'encoding' is {inp.encoding!r}: an events input must say how "
                   "recordings are binned into its T_max frames, "
                   f"{' or '.join(repr('frames:' + m) for m in FRAME_MODES)}")


def _parse_layer(d, index, n_layers, inp, earlier, shapes, arrays):
    where = f"layer {index}"
    if isinstance(d, dict) and isinstance(d.get("name"), str):
        where = f"layer '{d['name']}'"
    _known_fields(d, where, ANY_LAYER_FIELDS)
    name = _field(d, "name", where, "str")
    where = f"layer '{name}'"
    if name == "input" or name in shapes:
        _fail(where, "field 'name' must be unique and not 'input'")
    kind = _field(d, "kind", where, "str")
    if kind not in LAYER_KINDS:
        _fail(where, f"field 'kind' is {kind!r}, expected one of {', '.join(LAYER_KINDS)}")
    _known_fields(d, where, LAYER_FIELDS[kind])
    last = index == n_layers - 1
    if kind == "output" and not last:
        _fail(where, "an 'output' layer must be the last layer (exactly one output layer)")
    if last and kind != "output":
        _fail(where, f"the last layer must be the 'output' layer, got kind {kind!r}")
    shape = _shape(d, where, (3,) if kind in ("conv", "maxpool") else (1,))
    by_name = {l.name: l for l in earlier}

    if kind == "maxpool":
        source = _field(d, "source", where, "str")
        if source not in by_name:
            _fail(where, f"field 'source' = {source!r} is not an earlier layer")
        if by_name[source].kind != "conv" or earlier[-1].name != source:
            _fail(where, f"field 'source' = {source!r} must be the conv layer immediately "
                         "before the maxpool (the pool is fused into its fire pass)")
        k = _int_range(d, "kernel", where, 1, MAX_SIZE)
        c, h, w = shapes[source]
        if h % k or w % k:
            _fail(where, f"field 'kernel' = {k} does not divide the source size {h}x{w}")
        if shape != (c, h // k, w // k):
            _fail(where, f"field 'shape' is {list(shape)}, expected {[c, h // k, w // k]}")
        shapes[name] = shape
        return Layer(name, kind, shape, source=source, kernel=k)

    edges_d = _field(d, "inputs", where, "list")
    if not edges_d:
        _fail(where, "field 'inputs' is empty (a layer needs at least one edge)")
    if len(edges_d) > MAX_EDGES:
        _fail(where, f"field 'inputs' has {len(edges_d)} edges, at most {MAX_EDGES} allowed")
    weight_bits = _int_range(d, "weight_bits", where, 2, 8)
    edges = []
    for j, ed in enumerate(edges_d):
        edges.append(_parse_edge(ed, f"{where} edge {j}", kind, shape, weight_bits, inp,
                                 index, len(edges_d), by_name, shapes, arrays))
    n_out = shape[0]
    bias = _array(d, "bias", arrays, where, (n_out,), per_channel_scalar=True)
    layer = Layer(name, kind, shape, edges, weight_bits, bias,
                  scale=_opt_number(d, "scale", where))
    if kind in SPIKING_KINDS:
        layer.theta = _array(d, "theta", arrays, where, (n_out,), per_channel_scalar=True)
        if layer.theta.size and int(layer.theta.min()) <= 0:
            i = int(np.argmin(layer.theta))
            _fail(where, f"field 'theta' entry {i} = {int(layer.theta[i])}, must be > 0")
        layer.leak_shift = _int_range(d, "leak_shift", where, 0, 31)
        layer.reset = _field(d, "reset", where, "str")
        if layer.reset not in RESET_MODES:
            _fail(where, f"field 'reset' is {layer.reset!r}, expected one of {', '.join(RESET_MODES)}")
    elif "theta" in d and d["theta"] is not None:
        _fail(where, "field 'theta' is not allowed on an output layer")
    shapes[name] = shape
    return layer


def _opt_number(d, key, where):
    v = d.get(key)
    if v is None:
        return None
    return float(_field(d, key, where, "number"))


def _parse_edge(d, where, kind, shape, weight_bits, inp, index, n_edges, by_name,
                shapes, arrays):
    _known_fields(d, where, EDGE_FIELDS["conv"])
    source = _field(d, "source", where, "str")
    if source != "input" and source not in by_name:
        _fail(where, f"field 'source' = {source!r} is not 'input' or an earlier layer")
    if source == "input":
        if inp.kind == "static" and (index != 0 or n_edges != 1):
            _fail(where, "the static input may only feed the first layer, through a single edge")
        if inp.kind == "static" and kind == "output":
            _fail(where, "the static input must feed a spiking layer (conv or linear), not the output")
        if inp.kind == "events" and kind == "output":
            _fail(where, "an events input may only feed spiking layers, not the output")
    elif by_name[source].kind == "conv" and _pooled(source, by_name):
        _fail(where, f"field 'source' = {source!r} is pooled; read the maxpool layer instead "
                     "(a pooled conv layer emits only pooled events)")
    op = _field(d, "op", where, "str")
    if op not in EDGE_OPS:
        _fail(where, f"field 'op' is {op!r}, expected one of {', '.join(EDGE_OPS)}")
    _known_fields(d, where, EDGE_FIELDS[op])
    want = "conv" if kind == "conv" else "linear"
    if op != want:
        _fail(where, f"field 'op' is {op!r}, but a {kind} layer's edges must all be {want!r}")
    src_shape = shapes[source]
    if op == "conv":
        if len(src_shape) != 3:
            _fail(where, f"a conv edge needs a [C, H, W] source, '{source}' has shape {list(src_shape)}")
        k = _int_range(d, "kernel", where, 1, MAX_KERNEL)
        s = _int_range(d, "stride", where, 1, MAX_KERNEL)
        p = _int_range(d, "padding", where, 0, MAX_PADDING)
        c_in, h, w = src_shape
        wshape = (shape[0], c_in, k, k)
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        if ho < 1 or wo < 1 or shape[1:] != (ho, wo):
            _fail(where, f"output size (H_in + 2p - k) // s + 1 = {ho}x{wo} from source "
                         f"'{source}' {h}x{w} does not match the layer shape {list(shape)}")
    else:
        k = s = p = None
        wshape = (shape[0], math.prod(src_shape))
    if math.prod(wshape) > MAX_ARRAY_ELEMENTS:
        _fail(where, f"field 'weight' would be {list(wshape)}, {math.prod(wshape)} entries; "
                     f"at most {MAX_ARRAY_ELEMENTS} allowed")
    weight = _array(d, "weight", arrays, where, wshape)
    if not _fits(weight, weight_bits):
        _fail(where, f"field 'weight': values {int(weight.min())}..{int(weight.max())} do not "
                     f"fit weight_bits = {weight_bits} signed bits")
    return Edge(source, op, weight, k, s, p)


def _pooled(name, by_name):
    return any(l.kind == "maxpool" and l.source == name for l in by_name.values())


# ---------------------------------------------------------------- bounds

def input_max_abs(inp):
    """max |x| over the representable input range (1 for events)."""
    if inp.kind == "events":
        return 1
    return max(inp.zero_point, (1 << inp.bits) - 1 - inp.zero_point)


def edge_abs_sum(edge):
    """Per output channel, sum of |W| over everything one neuron can read through
    the edge (the whole kernel for a conv edge: an upper bound at the borders)."""
    w = np.abs(edge.weight.astype(np.int64))
    return w.reshape(w.shape[0], -1).sum(axis=1)


def layer_imax(image, layer):
    """Imax[i] of docs/contract.md as Python ints per output channel."""
    total = np.abs(layer.bias.astype(np.int64)).astype(object)
    for e in layer.inputs:
        xmax = input_max_abs(image.input) if e.source == "input" else 1
        total = total + edge_abs_sum(e).astype(object) * xmax
    return total


def layer_bound_bits(image):
    """{layer name: signed bits its membrane (or output accumulator) needs} for the
    conv, linear and output layers: bits(M), M = (T_max + 1) * max_i Imax[i]."""
    bits = {}
    for layer in image.layers:
        if layer.kind == "maxpool":
            continue
        m = (image.t_max + 1) * int(max(layer_imax(image, layer), default=0))
        bits[layer.name] = m.bit_length() + 1
    return bits


def _check_bounds(image, membrane_bits, acc_bits):
    for layer in image.layers:
        if layer.theta is not None and not _fits(layer.theta, membrane_bits):
            _fail(f"layer '{layer.name}'", f"field 'theta' max {int(layer.theta.max())} does "
                                           f"not fit membrane_bits = {membrane_bits} signed bits")
    for name, need in layer_bound_bits(image).items():
        layer = image.layer(name)
        have, what = (acc_bits, "acc_bits") if layer.kind == "output" else (membrane_bits, "membrane_bits")
        if need > have:
            _fail(f"layer '{name}'", f"needs {need} bits for its membrane bound over "
                                     f"T_max = {image.t_max} timesteps, but {what} = {have}")
