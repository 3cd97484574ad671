"""ghosthub.runtime: oneDNN ISA pin, BatchNorm folding, compiled forward, onnxruntime backend."""

import os

os.environ.setdefault("GLOG_v", "3")  # before mindspore is imported: keep its log lines out

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from ghosthub.errors import ExportMismatchError, MissingExtraError, ModeError
from ghosthub.runtime import isa
from tests.support.paths import REPO

# ---------------------------------------------------------------------------- ISA pin (pure Python)


def _pin(env, isa_arg=None, machine="x86_64"):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fake environment never reaches oneDNN, so never warns
        return isa.pin_cpu_isa(isa_arg, environ=env, machine=machine)


def test_default_is_avx2_on_x86():
    env = {}
    assert _pin(env) == "AVX2"
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    info = isa.cpu_isa_in_use(env, machine="x86_64")
    assert (info.isa, info.source, info.late) == ("avx2", "ghosthub", False)
    assert info.as_dict()["cpu_isa"] == "avx2"


@pytest.mark.parametrize("machine", ["aarch64", "arm64", "ppc64le", "riscv64"])
def test_never_on_other_machines(machine):
    env = {"GHOSTHUB_CPU_ISA": "avx2"}
    assert _pin(env, machine=machine) is None
    assert "ONEDNN_MAX_CPU_ISA" not in env
    assert isa.cpu_isa_in_use(env, machine=machine).isa == "n/a"


@pytest.mark.parametrize("name", ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"])
def test_users_onednn_setting_wins(name):
    env = {name: "AVX512_CORE", "GHOSTHUB_CPU_ISA": "avx2"}
    assert _pin(env, "avx2") == "AVX512_CORE"
    assert env[name] == "AVX512_CORE" and len(env) == 2
    assert isa.cpu_isa_in_use(env, machine="x86_64").source == "ONEDNN_MAX_CPU_ISA"


def test_ghosthub_cpu_isa_chooses():
    env = {"GHOSTHUB_CPU_ISA": "avx512_core"}
    assert _pin(env, "avx2") == "AVX512_CORE"
    env = {"GHOSTHUB_CPU_ISA": "native"}
    assert _pin(env, "avx2") is None and "ONEDNN_MAX_CPU_ISA" not in env


def test_unknown_isa_name_warns_and_uses_avx2():
    env = {"GHOSTHUB_CPU_ISA": "avx-2"}
    with pytest.warns(RuntimeWarning, match="unknown CPU ISA 'avx-2'"):
        assert isa.pin_cpu_isa(environ=env, machine="x86_64") == "AVX2"


def test_argument_when_no_environment_choice():
    env = {}
    assert _pin(env, "avx512_core_bf16") == "AVX512_CORE_BF16"
    env = {}
    assert _pin(env, "native") is None and env == {}


def test_repinning_replaces_ghosthubs_own_value_only():
    env = {}
    _pin(env)  # ghosthub's default, e.g. at import
    assert _pin(env, "native") is None  # a recipe asking for native lifts it
    assert "ONEDNN_MAX_CPU_ISA" not in env
    _pin(env)
    assert _pin(env, "avx512_core") == "AVX512_CORE"  # not mistaken for the user's choice
    # A child process inherits ghosthub's value and may re-decide.
    child = dict(env)
    assert _pin(child, "avx2") == "AVX2"


def test_child_env():
    env = isa.child_env("avx2", {"PATH": "/bin", "DNNL_MAX_CPU_ISA": "AVX512_CORE"})
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2" and "DNNL_MAX_CPU_ISA" not in env
    assert _pin(dict(env)) == "AVX2"
    env = isa.child_env("native", {"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert "ONEDNN_MAX_CPU_ISA" not in env and _pin(env) is None


def test_isa_module_imports_nothing_heavy():
    code = (
        "import sys, ghosthub.runtime; "
        "print(sorted(m for m in ('mindspore', 'numpy', 'ctypes', 'platform') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout
    assert out.strip() == "[]"


_IN_PROCESS = textwrap.dedent("""
    import ctypes, os, sys, warnings
    import mindspore as ms, numpy as np
    from mindspore import ops
    x = ms.Tensor(np.ones((1, 4, 8, 8), np.float32)); w = ms.Tensor(np.ones((4, 4, 3, 3), np.float32))
    if sys.argv[1] == "late":
        ops.conv2d(x, w, pad_mode="pad", padding=1).asnumpy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # import ghosthub pins the ceiling itself (ghosthub/__init__.py); a second call changes nothing
        from ghosthub.runtime import cpu_isa_in_use, pin_cpu_isa
        pin_cpu_isa()
    lib = ctypes.CDLL(os.path.join(os.path.dirname(ms.__file__), "lib", "libdnnl.so.3"))
    print(cpu_isa_in_use().late, len(caught), hex(lib.dnnl_get_effective_cpu_isa()))
""")


def _avx512() -> bool:
    try:
        return " avx512f " in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@pytest.mark.skipif(os.uname().machine != "x86_64" or not _avx512(), reason="needs an x86-64 CPU with AVX-512")
@pytest.mark.parametrize("when, expected", [("after_import", "False 0 0x7"), ("late", "True 1 ")])
def test_pin_after_import_mindspore_and_too_late(when, expected):
    env = {k: v for k, v in os.environ.items() if "MAX_CPU_ISA" not in k and not k.startswith("GHOSTHUB_")}
    env["PYTHONPATH"] = str(REPO)
    out = (
        subprocess.run([sys.executable, "-c", _IN_PROCESS, when], capture_output=True, text=True, env=env, timeout=120)
        .stdout.strip()
        .splitlines()[-1]
    )
    assert out.startswith(expected)
    if when == "late":
        assert not out.endswith("0x7")  # oneDNN kept its AVX-512 dispatch


# ---------------------------------------------------------------------------- networks


def _net(seed=0, num_classes=7):
    """A width-0.5 GhostNet with random weights and non-trivial BatchNorm statistics."""
    import mindspore as ms

    from ghosthub.architectures import create_model

    net = create_model("ghostnet", 0.5, num_classes=num_classes)
    rng = np.random.default_rng(seed)
    for name, p in sorted(net.parameters_dict().items()):
        value = rng.standard_normal(p.shape).astype(np.float32) * 0.1
        if name.endswith(("moving_variance", "gamma")):
            value = np.abs(value) + 0.5
        p.set_data(ms.Tensor(value))
    net.set_train(False)
    return net


def _x(n=2, seed=1):
    import mindspore as ms

    return ms.Tensor(np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(np.float32))


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_fuse_batchnorm_equal_outputs():
    from mindspore import nn

    from ghosthub.runtime.fuse import fuse_batchnorm

    net, x = _net(), _x()
    expected = net(x).asnumpy()
    assert fuse_batchnorm(net) is net
    assert net.bn_fused == 80  # every BatchNorm of GhostNet follows a convolution
    assert not any(isinstance(c, nn.BatchNorm2d) for _, c in net.cells_and_names())
    assert _rel(net(x).asnumpy(), expected) <= 1e-5


def test_fuse_batchnorm_refuses_training_mode():
    from ghosthub.runtime.fuse import fuse_batchnorm

    net = _net()
    net.set_train(True)
    with pytest.raises(ValueError, match="inference"):
        fuse_batchnorm(net)


def test_resolve_mode():
    from ghosthub.runtime.compiled import resolve_mode

    assert resolve_mode("auto", cache_dir="/tmp/x") == "graph"
    assert resolve_mode("auto") == "pynative"
    assert resolve_mode("pynative", cache_dir="/tmp/x") == "pynative"
    assert resolve_mode("graph") == "graph"
    with pytest.raises(ModeError, match="unknown mode 'fast'; expected one of"):
        resolve_mode("fast")


def test_an_unknown_runtime_or_mode_is_a_mode_error(tmp_path):
    from ghosthub.runtime import make_ready

    with pytest.raises(ModeError, match="unknown runtime 'tensorrt'; expected mindspore or onnxruntime"):
        make_ready(None, tmp_path, runtime="tensorrt")
    with pytest.raises(ModeError, match="unknown mode 'fast'"):
        make_ready(None, tmp_path, mode="fast")
    assert not any(tmp_path.iterdir()), "nothing written for a refused call"


def test_compile_cache_dir_is_keyed_on_graph(tmp_path):
    from ghosthub.runtime.compiled import compile_cache_dir

    a, b = _net(0), _net(1, num_classes=5)
    assert compile_cache_dir(tmp_path, a, (1, 3, 32, 32)) == compile_cache_dir(tmp_path, _net(2), (1, 3, 32, 32))
    assert compile_cache_dir(tmp_path, a, (1, 3, 32, 32)) != compile_cache_dir(tmp_path, a, (4, 3, 32, 32))
    assert compile_cache_dir(tmp_path, a, (1, 3, 32, 32)) != compile_cache_dir(tmp_path, b, (1, 3, 32, 32))


def test_compiled_network_matches_pynative(tmp_path):
    from ghosthub.runtime.compiled import compile_network
    from ghosthub.runtime.fuse import fuse_batchnorm

    net, x = _net(), _x(3)
    expected = net(x).asnumpy()
    assert compile_network(net, "pynative", cache_dir=tmp_path) is net and net.compiled_mode == "pynative"
    fuse_batchnorm(net)
    compiled = compile_network(net, "auto", cache_dir=tmp_path)
    assert compiled is net and compiled.compiled_mode == "graph"
    assert type(net).__name__ == "GhostNet" and net.num_classes == 7
    assert _rel(compiled(x).asnumpy(), expected) <= 1e-5
    # A smaller batch is padded to the compiled one: same graph, same numbers.
    assert _rel(compiled(x[:2]).asnumpy(), expected[:2]) <= 1e-5
    assert "MS_COMPILER_CACHE_ENABLE" not in os.environ  # never left on for later graphs


def test_compile_cache_warm_in_second_process(tmp_path):
    """A fresh process loads the first one's graph: same logits, far shorter first call."""
    script = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, sys.argv[2])
        from tests.runtime.test_runtime import _net, _x
        from ghosthub.runtime.compiled import compile_network
        net = compile_network(_net(), "graph", cache_dir=sys.argv[1])
        t = time.perf_counter(); y = net(_x()).asnumpy(); print(time.perf_counter() - t, float(y.sum()))
    """)
    # A script file: MindSpore's compile cache hashes the entry script (with python -c it is off).
    (tmp_path / "first_call.py").write_text(script)
    cache = tmp_path / "compile"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [
        subprocess.run(
            [sys.executable, str(tmp_path / "first_call.py"), str(cache), str(REPO)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=300,
        ).stdout.split()
        for _ in range(2)
    ]
    assert len(list(cache.glob("*/rank_0/graph_cache/compile_cache_0.mindir"))) == 1
    (cold, s1), (warm, s2) = runs
    assert float(s1) == pytest.approx(float(s2), rel=1e-6), runs
    assert float(warm) < float(cold), runs


# ---------------------------------------------------------------------------- onnxruntime


def test_onnxruntime_missing_is_a_clear_error(monkeypatch, tmp_path):
    from ghosthub.runtime import onnxrt

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError, match=r"ghosthub\[onnx\]") as info:
        onnxrt.onnx_network(_net(), tmp_path)
    assert info.value.extra == "onnx" and isinstance(info.value, ImportError)


def test_an_export_that_disagrees_with_mindspore_is_refused_and_removed(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from ghosthub.runtime import onnxrt

    monkeypatch.setattr(onnxrt, "VERIFY_RTOL", -1.0)  # no difference is small enough: as if the export were wrong
    ort_net = onnxrt.onnx_network(_net(), tmp_path, "cd" * 32)
    with pytest.raises(ExportMismatchError, match="disagrees with MindSpore") as info:
        ort_net(_x(2))
    assert info.value.max_diff is not None and info.value.max_diff >= 0 > info.value.bound
    assert not list(tmp_path.glob("onnx/*.onnx")), "a wrong export is not kept in the cache"


def test_onnxruntime_network(tmp_path):
    pytest.importorskip("onnxruntime")
    from ghosthub.runtime.onnxrt import onnx_network, weights_digest

    net, x = _net(), _x(3)
    expected = net(x).asnumpy()
    ort_net = onnx_network(net, tmp_path, "ab" * 32)
    got = ort_net(x)
    assert isinstance(got, np.ndarray) and _rel(got.asnumpy(), expected) <= 1e-5
    assert _rel(ort_net(x[:1]).asnumpy(), expected[:1]) <= 1e-5  # padded to the exported batch
    assert ort_net(x.asnumpy()).shape == (3, 7) and ort_net.num_classes == 7
    (path,) = tmp_path.glob("onnx/abababababababab-3x3x32x32-ms*.onnx")
    assert path.with_suffix(".json").exists()
    # A second network with the same weights uses the cached export as it is.
    mtime = path.stat().st_mtime_ns
    again = onnx_network(_net(), tmp_path, "ab" * 32)
    assert _rel(again(x).asnumpy(), expected) <= 1e-5 and path.stat().st_mtime_ns == mtime
    assert weights_digest(net) == weights_digest(_net()) != weights_digest(_net(seed=3))
