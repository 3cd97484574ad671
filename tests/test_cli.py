"""The `ghosthub` command: list, show, --version, --help, exit codes, no MindSpore on these paths."""

import json
import subprocess
import sys

import pytest

from conftest import REPO
from ghosthub import __version__
from ghosthub.cli import build_parser, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_table(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "BACKBONE", "DATASET", "TOP-1", "TOP-5", "FORMAT", "SHA256", "BUILD", "CACHED"]
    assert [line.split()[0] for line in lines[1:]] == [
        "ghostnet600_175.a37ea724",
        "ghostnet_050",
        "ghostnet_050.85b91860",
        "ghostnet_100",
        "ghostnet_100.2c1db3f2",
        "ghostnet_100.722e13be",
        "ghostnet_130",
    ]
    row = ["ghostnet_050", "ghostnet", "ImageNet2012", "65.84", "86.60", "ckpt", "ae7771cb", "yes", "no"]
    assert lines[2].split() == row
    # Aligned: every column starts at the same offset on every line.
    starts = [lines[0].index(h) for h in ("BACKBONE", "DATASET", "TOP-1", "SHA256")]
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
    _, out, _ = run(capsys, "list", "--sort", "top1", "--json")
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
    assert json.loads(out) == []
    _, out, _ = run(capsys, "list", "--dataset", "imagenet*", "--format", "ckpt", "--json")
    assert len(json.loads(out)) == 5


def test_list_sort_by_an_unknown_metric_is_a_usage_error(capsys):
    code, out, err = run(capsys, "list", "--sort", "top7")
    assert code == 2 and out == ""
    assert "top7" in err and "top1, top5" in err


def test_list_nothing_matches(capsys):
    code, out, err = run(capsys, "list", "resnet*")
    assert code == 0 and out == "" and "no models match" in err


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

    from conftest import SEED
    from ghosthub.modelcard import load_card, render_card

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
