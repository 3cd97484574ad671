"""The `ghosthub` command: list, show, --version, --help, exit codes, no MindSpore on these paths."""

import json
import subprocess
import sys

import pytest

from ghosthub import __version__
from ghosthub.cli import build_parser, main
from tests.support.paths import REPO


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_table(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "BACKBONE",
        "LIBRARY",
        "DATASET",
        "TOP-1",
        "TOP-5",
        "FORMAT",
        "SHA256",
        "BUILD",
        "CACHED",
    ]
    names = [line.split()[0] for line in lines[1:]]
    assert len(names) == 53 and names[:3] == ["bit_resnet50", "coat_tiny", "convit_tiny"]
    assert [n for n in names if n.startswith("ghostnet")] == [
        "ghostnet600_175.a37ea724",
        "ghostnet_050",
        "ghostnet_050.85b91860",
        "ghostnet_100",
        "ghostnet_100.2c1db3f2",
        "ghostnet_100.722e13be",
        "ghostnet_130",
    ]
    assert lines[1 + names.index("ghostnet_050")].split() == [
        "ghostnet_050",
        "ghostnet",
        "mindcv",
        "ImageNet2012",
        "65.84",
        "86.60",
        "ckpt",
        "ae7771cb",
        "yes",
        "no",
    ]
    # Aligned: every column starts at the same offset on every line.
    starts = [lines[0].index(h) for h in ("BACKBONE", "LIBRARY", "DATASET", "TOP-1", "SHA256")]
    for line in lines[1:]:
        assert all(line[s - 2 : s] == "  " and line[s] != " " for s in starts)


def test_list_pattern_filters_sort_and_json(capsys):
    code, out, _ = run(capsys, "list", "ghostnet_1*", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == [
        "ghostnet_100",
        "ghostnet_100.2c1db3f2",
        "ghostnet_100.722e13be",
        "ghostnet_130",
    ]
    assert rows[0]["top1"] == 73.78 and rows[0]["sha256"] == "bef8025a" and rows[0]["format"] == "ckpt"
    _, out, _ = run(capsys, "list", "ghostnet*", "--sort", "top1", "--json")
    assert [r["name"] for r in json.loads(out)] == [
        "ghostnet600_175.a37ea724",
        "ghostnet_100.722e13be",
        "ghostnet_130",
        "ghostnet_100.2c1db3f2",
        "ghostnet_100",
        "ghostnet_050.85b91860",
        "ghostnet_050",
    ]
    _, out, _ = run(capsys, "list", "--backbone", "resnet", "--json")
    assert [r["name"] for r in json.loads(out)] == ["resnet50", "seresnet18"]
    _, out, _ = run(capsys, "list", "--dataset", "imagenet*", "--format", "ckpt", "--json")
    assert len(json.loads(out)) == 51  # all but the two Oxford-IIIT Pet cards


def test_list_sort_by_an_unknown_metric_is_a_usage_error(capsys):
    code, out, err = run(capsys, "list", "--sort", "top7")
    assert code == 2 and out == ""
    assert "top7" in err and "top1, top5" in err


def test_list_nothing_matches(capsys):
    code, out, err = run(capsys, "list", "yolo*")  # mindyolo's cards are not bundled
    assert code == 0 and out == "" and err == "no models match 'yolo*'\n"


def test_list_of_a_near_miss_suggests_what_show_suggests(capsys):
    code, out, err = run(capsys, "list", "ghostnet_05")
    assert code == 0 and out == ""
    assert err.startswith("no models match 'ghostnet_05'; did you mean ghostnet_050")
    _, _, shown = run(capsys, "show", "ghostnet_05")
    assert err.split("did you mean ")[1] == shown.split("did you mean ")[1], "one suggestion code for both"
    _, _, err = run(capsys, "list", "ghostnet05*")
    assert "did you mean ghostnet_050" in err
    _, _, err = run(capsys, "list", "ghostnet_05", "--dataset", "cifar*")
    assert err == "no models match 'ghostnet_05' with --dataset cifar*\n", "no suggestion the filters exclude"


def test_list_with_cards_folder_and_broken_card(capsys, tmp_path):
    (tmp_path / "broken.md").write_text("---\nmodel-name: x\n")
    code, out, err = run(capsys, "list", "--cards", str(tmp_path))
    assert code == 0 and "ghostnet_050" in out
    assert err.startswith("warning: skipped card") and "broken.md" in err and "not closed" in err


def test_show(capsys):
    code, out, _ = run(capsys, "show", "ghostnet_050")
    assert code == 0
    assert "model-version:" in out and "2.5" in out
    assert "https://download-mindspore.osinfra.cn/toolkits/mindcv/ghostnet/ghostnet_050-ae7771cb-910v2.ckpt" in out
    assert "top1=65.84" in out and "ae7771cb" in out


def test_show_json(capsys):
    code, out, _ = run(capsys, "show", "ghostnet_050.85b91860", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["name"] == "ghostnet_050.85b91860"
    assert data["metrics"] == {"top1": 66.03, "top5": 86.64}
    assert data["fields"]["model-version"] == "2.5"
    assert data["assets"][0]["asset-link"].endswith("ghostnet_050-85b91860.ckpt")


def test_show_unknown_name(capsys):
    code, out, err = run(capsys, "show", "ghostnet_05")
    assert code == 1 and out == ""
    assert err.startswith("error: no model card named 'ghostnet_05'") and "did you mean ghostnet_050" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"ghosthub {__version__}"


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["list", "--no-such-option"])
    assert info.value.code == 2
    assert main([]) == 2


def test_help_on_every_command(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"list", "show"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert f"usage: ghosthub {name}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["list"], ["show", "ghostnet_050"], ["list", "--json"]])
def test_list_and_show_do_not_import_mindspore(argv):
    code = (
        "import sys; from ghosthub.cli import main; rc = main(sys.argv[1:]);"
        "heavy = sorted(m for m in ('mindspore', 'requests', 'numpy') if m in sys.modules);"
        "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr


def test_console_script_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "ghosthub", "list", "ghostnet_130"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "ghostnet_130" in proc.stdout


def test_list_shows_what_is_cached(capsys, tmp_path, isolated_env):
    import hashlib

    from ghosthub.modelcard import load_card, render_card
    from tests.support.paths import SEED

    weights = tmp_path / "w.ckpt"
    weights.write_bytes(b"weights" * 100)
    card = load_card(SEED).replace(
        **{
            "model-name": "local_net",
            "asset": [
                {
                    "file-format": "ckpt",
                    "asset-link": "w.ckpt",
                    "asset-sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
                }
            ],
        }
    )
    (tmp_path / "local_net.md").write_text(render_card(card))
    _, out, _ = run(capsys, "list", "--cards", str(tmp_path))
    lines = {line.split()[0]: line.split() for line in out.splitlines()}
    assert lines["NAME"][-1] == "CACHED" and lines["local_net"][-1] == "no", "the column is there before any cache"
    assert run(capsys, "download", "local_net", "--cards", str(tmp_path))[0] == 0
    _, out, _ = run(capsys, "list", "--cards", str(tmp_path))
    lines = {line.split()[0]: line.split() for line in out.splitlines()}
    assert lines["NAME"][-1] == "CACHED" and lines["local_net"][-1] == "yes" and lines["ghostnet_050"][-1] == "no"
    _, out, _ = run(capsys, "list", "local*", "--cards", str(tmp_path), "--json")
    assert json.loads(out)[0]["cached"] is True


def test_commands_table_matches_the_parser(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    from ghosthub.cli import COMMANDS

    assert tuple(commands) == tuple(COMMANDS)
    code = main(["cache"])  # an action is required: the cache command's own help, not another's
    err = capsys.readouterr().err
    assert code == 2 and "usage: ghosthub cache" in err


def test_unknown_command_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["lst"])
    assert info.value.code == 2 and "invalid choice: 'lst'" in capsys.readouterr().err


# ---------------------------------------------------------------------------- what a command shows besides results


def test_a_ghosthub_warning_is_one_line_in_its_own_words(capsys, tmp_path):
    from tests.support.paths import SEED

    (tmp_path / "ghostnet_050.md").write_text(SEED.read_text())
    code, out, err = run(capsys, "list", "ghostnet_050", "--cards", str(tmp_path))
    assert code == 0 and "ghostnet_050" in out
    assert err == (
        f"warning: card 'ghostnet_050' in {REPO / 'cards' / 'ghostnet_050.md'} is shadowed by "
        f"{tmp_path / 'ghostnet_050.md'}, which takes precedence\n"
    )


def test_many_warnings_of_a_kind_are_one_summary_and_verbose_lists_each(capsys, tmp_path):
    from tests.support.paths import SEED

    text = SEED.read_text()
    names = ["ghostnet_050", "ghostnet_100", "ghostnet_130", "ghostnet_050.85b91860", "resnet50"]
    for name in names:
        (tmp_path / f"{name}.md").write_text(text.replace("model-name: ghostnet_050", f"model-name: {name}"))
    code, _, err = run(capsys, "list", "--cards", str(tmp_path))
    assert code == 0 and err.splitlines() == [
        "warning: 5 cards are shadowed by cards of the same name in earlier sources; `ghosthub list --verbose` "
        "(or Registry.notices) lists each"
    ]
    code, _, err = run(capsys, "list", "--cards", str(tmp_path), "--verbose")
    lines = err.splitlines()
    assert code == 0 and len(lines) == 5 and all(" is shadowed by " in line for line in lines)
    assert {line.split("'")[1] for line in lines} == set(names)


def test_other_packages_warnings_keep_pythons_form():
    code = (
        "import argparse, warnings\n"
        "from ghosthub.cli._console import console\n"
        "from ghosthub.errors import FetchWarning\n"
        "previous = warnings.showwarning\n"
        "with console(argparse.Namespace()):\n"
        "    warnings.warn('from another package', DeprecationWarning, stacklevel=1)\n"
        "    for _ in range(2):  # shown once\n"
        "        warnings.warn('from ghosthub\\nover two lines', FetchWarning, stacklevel=1)\n"
        "assert warnings.showwarning is previous, 'the command puts the formatter back'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "always", "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "<string>:6: DeprecationWarning: from another package" in proc.stderr
    assert proc.stderr.count("warning: from ghosthub over two lines\n") == 1 and "FetchWarning" not in proc.stderr


def test_the_library_s_progress_lines_show_on_stderr_during_a_command_only(capsys):
    import argparse
    import logging

    from ghosthub.cli._console import console

    log = logging.getLogger("ghosthub.training.epochs")
    with console(argparse.Namespace()):
        log.info("epoch %d/%d", 1, 3)
        log.debug("not shown")
        log.warning("something odd")
    log.info("after the command")
    err = capsys.readouterr().err
    assert err == "epoch 1/3\nwarning: something odd\n"
    assert logging.getLogger("ghosthub").handlers == []


def test_a_command_that_never_logs_never_imports_logging():
    code = (
        "import sys; from ghosthub.cli import main; rc = main(['list', 'ghostnet_050']);"
        "print('LOGGING', 'logging' in sys.modules, file=sys.stderr); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "LOGGING False" in proc.stderr, proc.stderr


def test_logging_imported_during_a_command_still_gets_its_lines():
    code = (
        "import sys, argparse; from ghosthub.cli._console import console\n"
        "with console(argparse.Namespace()):\n"
        "    import logging; logging.getLogger('ghosthub.x').info('a line')\n"
        "logging.getLogger('ghosthub.x').info('not after')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "a line\n", proc.stderr


def test_errors_name_the_flags_typed_and_the_api_names_its_arguments(capsys, tmp_path):
    import ghosthub
    from tests.support.fetching import write_card

    write_card(tmp_path, "tiny", "http://127.0.0.1:9/tiny.ckpt", "ab" * 32)
    code, _, err = run(capsys, "download", "tiny", "--cards", str(tmp_path), "--offline")
    assert code == 1 and "(GHOSTHUB_OFFLINE=1 or --offline)" in err and "offline=True" not in err
    with pytest.raises(ghosthub.OfflineError, match=r"GHOSTHUB_OFFLINE=1 or offline=True\)"):
        ghosthub.Client(cards=[tmp_path], offline=True).download("tiny")


def test_a_download_error_offers_only_the_ways_the_command_has(capsys, tmp_path, monkeypatch):
    import ghosthub
    from tests.support.fetching import write_card

    monkeypatch.setenv("GHOSTHUB_RETRIES", "1")
    write_card(tmp_path, "tiny", "http://127.0.0.1:9/tiny.ckpt", "ab" * 32)  # nothing listens on port 9
    code, _, err = run(capsys, "download", "tiny", "--cards", str(tmp_path))
    assert code == 1 and "without a network" in err
    assert "checkpoint" not in err, "`download` takes no local file"
    from tests.support.images import make_image_folder

    image = next(make_image_folder(tmp_path / "images", classes=("a",), val=0, train=1).rglob("*.png"))
    code, _, err = run(capsys, "predict", "tiny", str(image), "--cards", str(tmp_path))
    assert code == 1 and "load a file you have with --checkpoint PATH," in err and "checkpoint_path" not in err
    with pytest.raises(ghosthub.DownloadError, match="load a file you have with checkpoint_path=,"):
        ghosthub.Client(cards=[tmp_path]).download("tiny")


@pytest.mark.parametrize(
    ("argv", "flag", "accepts"),
    [
        (["predict", "ghostnet_050", "x.png", "--topk", "0"], "--topk", "1 to 10000"),
        (["predict", "ghostnet_050", "x.png", "--topk", "-3"], "--topk", "1 to 10000"),
        (["predict", "ghostnet_050", "x.png", "--batch-size", "0"], "--batch-size", "1 to 4096"),
        (["eval", "ghostnet_050", "--data-dir", "d", "--batch-size", "-1"], "--batch-size", "1 to 4096"),
        (["export", "ghostnet_050", "--out", "f.mindir", "--batch-size", "0"], "--batch-size", "1 to 4096"),
        (["embed", "ghostnet_050", "x.png", "--out", "f.npy", "--batch-size", "x"], "--batch-size", "1 to 4096"),
        (["train", "--recipe", "digits_demo", "--data-dir", "d", "--epochs", "0"], "--epochs", "1 to 10000"),
        (["train", "--recipe", "digits_demo", "--data-dir", "d", "--workers", "0"], "--workers", "1 to 128"),
        (["demo", "--epochs", "-1"], "--epochs", "1 to 10000"),
        (["publish", str(REPO / "README.md"), "--name", "n", "--hub", "h", "--width", "0"], "--width", "above 0"),
        (["publish", str(REPO / "README.md"), "--name", "n", "--hub", "h", "--width", "nan"], "--width", "above 0"),
        (["serve", "h", "--port", "70000"], "--port", "0 to 65535"),
        (["download", "ghostnet_050", "--connections", "0"], "--connections", "1 to 64, or auto"),
    ],
)
def test_a_number_out_of_range_is_a_usage_error_naming_the_flag(capsys, argv, flag, accepts):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"argument {flag}" in err and accepts in err and "Traceback" not in err


# ---------------------------------------------------------------------------- paths the user gives


@pytest.mark.parametrize(
    "command", [["inspect"], ["convert", "--out", "x.ckpt"], ["publish", "--name", "n", "--hub", "h"]]
)
def test_a_weights_argument_that_is_no_file_is_one_line_naming_it(capsys, tmp_path, command):
    import os

    fifo = tmp_path / "x.ckpt"
    os.mkfifo(fifo)
    for path, reason in ((tmp_path, "is a folder"), (tmp_path / "missing.ckpt", "no such file"), (fifo, "pipe")):
        with pytest.raises(SystemExit) as info:
            main([command[0], str(path), *command[1:]])
        err = capsys.readouterr().err
        assert info.value.code == 2 and f"{path}" in err and reason in err and "expected a .ckpt" in err
        assert "Errno" not in err and "Traceback" not in err
    assert not (tmp_path / "h").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "ghostnet_050", "--out"],
        ["embed", "ghostnet_050", "x.png", "--out"],
        ["convert", str(REPO / "pyproject.toml"), "--out"],
    ],
)
def test_an_output_file_goes_into_a_folder_that_exists(capsys, tmp_path, argv):
    target = tmp_path / "exprots" / "net.out"  # a typo: ghosthub makes no folder for it
    with pytest.raises(SystemExit) as info:
        main([*argv, str(target)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"the folder {target.parent} of {target} does not exist" in err
    assert not target.parent.exists()


def test_an_output_folder_is_made_and_said_so(capsys, tmp_path, monkeypatch):
    import hashlib

    from tests.support.fetching import write_card

    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "w.ckpt").write_bytes(b"weights" * 100)
    write_card(tmp_path / "cards", "tiny", "w.ckpt", hashlib.sha256(b"weights" * 100).hexdigest())
    monkeypatch.setenv("GHOSTHUB_CARDS", str(tmp_path / "cards"))
    mirror = tmp_path / "new" / "mirror"
    code, _, err = run(capsys, "mirror", "tiny", "--to", str(mirror))
    assert code == 0 and f"--to {mirror}: made this folder, which did not exist" in err
    assert f"mirroring tiny into {mirror}" in err, "a line per model"
    assert (mirror / "index.json").is_file()
    code, _, err = run(capsys, "mirror", "tiny", "--to", str(mirror))
    assert code == 0 and "a new folder" not in err
    with pytest.raises(SystemExit) as info:
        main(["demo", "--workdir", str(mirror / "index.json")])
    assert info.value.code == 2 and "is not a folder" in capsys.readouterr().err
