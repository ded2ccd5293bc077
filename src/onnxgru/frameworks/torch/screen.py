"""Screening a TorchScript archive before ``torch.jit.load``, which runs its code (a module's ``__setstate__``).

A TorchScript file is code: ``code/**/*.py`` holds the TorchScript source of every class and function, compiled and
run by ``torch.jit.load`` (``__setstate__``) and by every call of ``forward``. One line of it,
``torch.from_file(path, True, n)`` followed by ``fill_``, creates or overwrites any file. So before anything loads
the archive, its source is parsed (``ast``: TorchScript's serialized form is Python syntax) and every operation it
can reach is checked: builtin tensor ops (``torch.X``, ``ops.aten.X``, a method ``x.X(...)``) must be on
``TENSOR_OPS``, interpreter primitives (``ops.prim.X``) on ``PRIM_OPS``, called names on ``BUILTINS``; any other
namespace (``ops.<custom>``, ``torch.classes``, ``torch.jit``...) is refused, as are the pickled objects of
``data.pkl``/``constants.pkl`` that are not tensors, containers or the archive's own classes. ``--trust-code``
skips the screen.
"""

from __future__ import annotations

import ast
import io
import pickletools
from pathlib import Path

from onnxgru.errors import UserError
from onnxgru.frameworks.torch import safety

# aten operations a model's forward is made of: math, shapes, layers, recurrent kernels, creation, comparisons,
# and TorchScript's builtins over lists, dicts and strings. None reads or writes files (``from_file``, ``save``,
# ``load`` and their kin are absent on purpose).
TENSOR_OPS = frozenset("""
abs absolute acos acosh adaptive_avg_pool1d adaptive_avg_pool2d adaptive_max_pool1d adaptive_max_pool2d add add_
addbmm addcdiv addcmul addcmul_ addmm addmm_ addmv affine_grid_generator alias all allclose amax amin aminmax
any append arange arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin argsort as_strided asin asinh
atan atan2 atanh avg_pool1d avg_pool2d avg_pool3d baddbmm batch_norm bernoulli bilinear binary_cross_entropy bitwise_and
bitwise_not bitwise_or bitwise_xor bmm bool broadcast_tensors broadcast_to bucketize cat ceil celu chunk clamp
clamp_ clamp_max clamp_min clip clone contiguous conv1d conv2d conv3d conv_transpose1d conv_transpose2d
conv_transpose3d _convolution copy_ cos cosh cosine_similarity count_nonzero cross cumprod cumsum deg2rad detach
diag diag_embed diagonal diff dim div div_ divide dot double dropout dropout_ einsum elu elu_ embedding
embedding_bag empty empty_like eq equal erf erfc exp exp2 expand expand_as expm1 eye feature_dropout fill_ fix
flatten flip fliplr flipud float float_power floor floor_divide fmax fmin fmod frac full full_like gather gcd ge
gelu glu greater greater_equal group_norm gru gru_cell gt half hardshrink hardsigmoid hardswish hardtanh
hardtanh_ hstack hypot index index_add index_copy index_fill index_put index_put_ index_select instance_norm int
isclose isfinite isinf isnan isneginf isposinf kthvalue layer_norm le leaky_relu leaky_relu_ lerp less less_equal
lgamma linear linspace log log10 log1p log2 log_sigmoid log_softmax logaddexp logcumsumexp logical_and
logical_not logical_or logical_xor logit logsumexp long lstm lstm_cell lt masked_fill masked_fill_ masked_scatter
masked_select matmul max max_pool1d max_pool2d max_pool3d maximum mean median min minimum mish mm mode movedim
moveaxis mse_loss mul mul_ multinomial mv nan_to_num nanmean nansum narrow narrow_copy ne neg negative new_empty
new_full new_ones new_tensor new_zeros nll_loss nonzero norm normal normal_ not_equal numel ones ones_like pad
pairwise_distance permute pixel_shuffle polar pow prelu prod quantile rad2deg rand rand_like randint randn
randn_like randperm reciprocal relu relu6 relu_ remainder renorm repeat repeat_interleave reshape reshape_as
rnn_relu rnn_relu_cell rnn_tanh rnn_tanh_cell roll rot90 round rrelu rsqrt rsub scalar_tensor
scaled_dot_product_attention
scatter scatter_ scatter_add scatter_add_ scatter_reduce searchsorted select selu sigmoid sigmoid_ sign signbit silu
sin sinh size slice smooth_l1_loss softmax softmin softplus softshrink sort split split_with_sizes sqrt square
squeeze stack std std_mean sub sub_ sum swapaxes swapdims t take take_along_dim tan tanh tanh_ tensor tensor_split
tensordot threshold tile to topk trace transpose tril triu true_divide trunc type_as unbind unflatten unfold
uniform_ unique unique_consecutive unsqueeze unsqueeze_ upsample_bilinear2d upsample_nearest1d upsample_nearest2d
var var_mean vdot view view_as vstack where xlogy zero_ zeros zeros_like
__and__ __contains__ __derive_index __getitem__ __interpolate __is__ __isnot__ __not__ __or__ __range_length
__round_to_zero_floordiv __upsample __upsample_bilinear __xor__ _assert _dim_arange _pack_padded_sequence
_pad_packed_sequence _set_item _shape_as_tensor _unwrap_optional backward ceil_ clear copy count dict dtype
extend device floordiv format get index insert is_floating_point is_complex items join keys len list lower
pop remove reverse setdefault sorted startswith endswith strip split_with_sizes_copy str values warn
layout requires_grad is_contiguous item tolist is_nonzero fabs sym_size stride manual_seed lstrip rstrip
silu_ selu_ celu_ mish_ hardsigmoid_ hardswish_ threshold_ rrelu_ alpha_dropout alpha_dropout_
feature_alpha_dropout feature_alpha_dropout_ feature_dropout_
""".split())

# Interpreter primitives (``ops.prim.X``) serialized code uses; none touches the outside world.
PRIM_OPS = frozenset("""
dtype device layout RaiseException NumToTensor unchecked_unwrap_optional min max abs is_cuda is_cpu is_mps
is_sparse is_quantized is_meta is_xpu shape data requires_grad rangelist TupleIndex isinstance Uninitialized
unchecked_cast ConstantChunk AutogradZero AutogradAdd grad max_pool2d is_nested
""".split())

# Names the serialized source calls bare: casts, TorchScript's own helpers, Python builtins it supports.
BUILTINS = frozenset("""
annotate unchecked_cast uninitialized isinstance int float bool str complex len range print min max abs round
divmod enumerate zip list tuple dict hasattr getattr ord chr hash sum any all sorted reversed
""".split())

_NAMESPACES = {"aten": TENSOR_OPS, "prim": PRIM_OPS}


def screen_archive(path: Path) -> None:
    """A UserError unless every code file and pickle of the TorchScript archive at ``path`` passes the screen. The
    records are those torch's own reader gives ``torch.jit.load`` (``safety.records``), matched whatever their case
    as that reader matches them."""
    names, read = safety.records(path)
    texts, blobs = [], []
    try:
        for name in names:
            tail = name.lower()
            if tail.startswith("code/") and tail.endswith(".py"):
                texts.append((name, read(name)))
            elif tail.endswith(".pkl") and not tail.startswith("code/"):  # data.pkl, constants.pkl and any other
                blobs.append((name, read(name)))
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise UserError(f"{str(path)!r} is not a readable TorchScript archive ({type(exc).__name__}).") from None
    defined = set()
    trees = []
    for name, data in texts:
        tree = _parse(name, data, path)
        _mark_chains(tree)
        trees.append((name, tree))
        defined |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    for name, tree in trees:
        _screen_code(tree, name, path, defined)
    for name, data in blobs:
        _screen_pickle(data, name, path)


def _parse(name: str, data: bytes, path: Path) -> ast.Module:
    try:
        return ast.parse(data.decode("utf-8"), filename=name)
    except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        raise UserError(
            f"{str(path)!r} holds TorchScript code onnxgru cannot read ({name}); it does not load a TorchScript file "
            "it cannot screen."
        ) from None


def _chain(node: ast.AST) -> list[str] | None:
    """``torch.ops.aten.add`` -> ``["torch", "ops", "aten", "add"]``; None when the chain does not start at a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _why_not(chain: list[str]) -> str | None:
    """Why a reference rooted at ``torch``, ``ops`` or ``__torch__`` is refused, or None when it is allowed."""
    root = chain[0]
    if root == "__torch__":  # the archive's own classes and functions, screened themselves; never a custom class
        return "a custom C++ class (torch.classes)" if chain[1:3] == ["torch", "classes"] else None
    if root == "torch" and len(chain) > 1 and chain[1] == "ops":
        chain = chain[1:]
        root = "ops"
    if root == "ops":
        if len(chain) < 3:
            return f"the op namespace {'.'.join(chain)}"
        allowed = _NAMESPACES.get(chain[1])
        if allowed is None:
            return f"the custom op namespace ops.{chain[1]}"
        return None if len(chain) == 3 and chain[2] in allowed else f"the operation {'.'.join(chain)}"
    if len(chain) == 2 and chain[1] in TENSOR_OPS:
        return None
    return f"the operation {'.'.join(chain)}"


def _screen_code(tree: ast.Module, name: str, path: Path, defined: set[str]) -> None:
    refs = {"torch", "ops", "__torch__"}
    for node in ast.walk(tree):
        why = None
        if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "_parent_attr", None), ast.Attribute):
            chain = _chain(node)
            if chain and chain[0] in refs:
                why = _why_not(chain)
        elif isinstance(node, ast.Name) and node.id in ("torch", "ops") and isinstance(node.ctx, ast.Load):
            why = None if getattr(node, "_in_chain", False) else f"the bare name {node.id}"
        elif isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id not in BUILTINS and fn.id not in defined and not _local(fn.id):
                why = f"the function {fn.id}"
            elif isinstance(fn, ast.Attribute) and (_chain(fn) or ["?"])[0] not in refs:
                if fn.attr not in TENSOR_OPS and fn.attr not in defined:
                    why = f"the method {fn.attr}"
        elif isinstance(node, ast.Import | ast.ImportFrom | ast.Global | ast.Nonlocal | ast.Lambda | ast.Await):
            why = f"a Python {type(node).__name__} statement"
        if why:
            raise UserError(
                f"{str(path)!r} is a TorchScript file whose code ({name}, line {getattr(node, 'lineno', '?')}) uses "
                f"{why}, which is not an allowlisted tensor op; torch.jit.load would run it, so onnxgru does not load "
                "the file. Pass --trust-code only if you trust where it came from."
            )


def _local(name: str) -> bool:
    """Serialized code calls functions it bound to a local first (``_0 = __torch__.f`` then ``_0(...)``); those
    bindings are screened where they are made, so a call through a local name is the call of a screened reference."""
    return name.startswith("_") and name[1:].isdigit()


def _mark_chains(tree: ast.Module) -> None:
    """Mark the inner links of attribute chains, so each chain is screened once, whole, at its outermost link."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            inner = node.value
            while isinstance(inner, ast.Attribute):
                inner._parent_attr = node  # type: ignore[attr-defined]
                inner = inner.value
            if isinstance(inner, ast.Name):
                inner._in_chain = True  # type: ignore[attr-defined]


# Pickled objects an archive may hold besides its own classes (``__torch__.*``): tensors and their storages,
# containers, and the tags TorchScript's pickler writes.
_PICKLE_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_qtensor"), ("torch._utils", "_rebuild_sparse_tensor"), ("collections", "OrderedDict"),
    ("torch.jit._pickle", "restore_type_tag"), ("torch.jit._pickle", "build_intlist"),
    ("torch.jit._pickle", "build_tensorlist"), ("torch.jit._pickle", "build_doublelist"),
    ("torch.jit._pickle", "build_boollist"), ("torch.jit._pickle", "build_tensor_from_id"), ("torch", "device"),
    ("builtins", "set"), ("builtins", "complex"),
}


def _screen_pickle(data: bytes, name: str, path: Path) -> None:
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(str(arg))
            elif op.name in ("GLOBAL", "INST"):
                module, _, qualname = str(arg).partition(" ")
                _check_global(module, qualname, name, path)
            elif op.name == "STACK_GLOBAL":
                module, qualname = strings[-2:] if len(strings) >= 2 else ("?", "?")
                _check_global(module, qualname, name, path)
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - a pickle pickletools cannot walk is a pickle onnxgru cannot screen
        raise UserError(
            f"{str(path)!r} holds a pickle onnxgru cannot read ({name}); it does not load a TorchScript file it cannot "
            "screen."
        ) from None


def _check_global(module: str, qualname: str, name: str, path: Path) -> None:
    if module.startswith("__torch__") and not module.startswith("__torch__.torch.classes"):
        return
    if (module, qualname) in _PICKLE_GLOBALS or (module == "torch" and qualname.endswith("Storage")):
        return
    raise UserError(
        f"{str(path)!r} is a TorchScript file whose {name} builds a {module}.{qualname} object, which is not a tensor "
        "or one of the archive's own classes; onnxgru does not load it. Pass --trust-code only if you trust where it "
        "came from."
    )
