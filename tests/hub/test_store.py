"""Hubs on S3-compatible object stores, against moto's S3 API server on 127.0.0.1.

Publishing with many writers (content-addressed uploads, the index by compare-and-swap),
resuming a killed multipart upload, refusing stores without conditional writes, reading
through the verified cache, fsck and mirror; and the secret key in no object, file or output.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from ghosthub import config
from ghosthub._utils.places import hub_place
from ghosthub.cli import main
from ghosthub.client import Client
from ghosthub.errors import CardWarning, HubError, PublishError
from ghosthub.hub.fsck import fsck
from ghosthub.hub.store import ObjectStore, Unsupported, writable_store
from tests.support.paths import REPO
from tests.support.s3 import (
    MOTO,
    SECRET,
    Proxy,
    assert_pages_match_the_index,
    card_for,
    environ_without_aws,
    publish_file,
)

pytestmark = [
    pytest.mark.skipif(not os.path.exists(MOTO), reason="moto_server is not installed (pip install 'moto[server]')"),
    pytest.mark.timeout(180),
]


def run_cli(args, env, cwd=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "ghosthub", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


# --------------------------------------------------------------------------- which strings are hubs


@pytest.mark.parametrize("spec", ["s3:", "s3://", "s3:/zoo", "s3:zoo", "ftp://host/hub", "gs://bucket/hub"])
def test_a_string_that_names_no_hub_is_refused_and_no_folder_is_made(spec, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "best.ckpt"
    ckpt.write_bytes(b"not read: the hub is refused first")
    for args in (
        ["publish", str(ckpt), "--name", "m", "--width", "0.5", "--hub", spec],
        ["fsck", spec],
        ["list", "--hub", spec],
        ["mirror", "ghostnet_050", "--to", spec],
        ["serve", spec],
    ):
        with pytest.raises(SystemExit) as exit_:
            main(args)
        assert exit_.value.code == 2, args
        err = capsys.readouterr().err
        assert "s3://BUCKET/PREFIX" in err and "folder" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt"]  # no "s3:" folder, nothing else


def test_ghosthub_hub_and_hub_argument_go_through_the_same_check(monkeypatch):
    monkeypatch.setenv("GHOSTHUB_HUB", "ftp://user:pw@host/hub")
    with pytest.raises(HubError, match="GHOSTHUB_HUB 'ftp://host/hub'.*s3://BUCKET/PREFIX") as info:
        Client().list_models()
    assert "pw" not in str(info.value)
    monkeypatch.delenv("GHOSTHUB_HUB")
    with pytest.raises(HubError, match="bucket is missing"):
        Client(hub="s3://")
    with pytest.raises(HubError, match="credentials come from where the AWS tools find them"):
        hub_place("s3://AKIA:secret@zoo/team")
    assert hub_place("./s3:").kind == "folder" and hub_place("s3://zoo/a//b/").spec == "s3://zoo/a/b"


def test_without_the_aws_sdk_an_s3_hub_is_an_error_naming_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['boto3'] = None; from ghosthub.cli import main; "
        "sys.exit(main(['list', '--hub', 's3://zoo/team']))"
    )
    env = {**environ_without_aws(), "GHOSTHUB_CACHE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "pip install 'ghosthub[s3]'" in out.stderr


def test_import_list_of_a_folder_hub_and_a_cache_hit_never_load_the_aws_sdk(tmp_path):
    code = "import sys, ghosthub; ghosthub.list_models(); print('boto3' in sys.modules or 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


# --------------------------------------------------------------------------- many writers


def test_eight_publishers_at_once_each_a_different_model_all_reach_the_index(s3):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.time() + 3.0  # every process is up (imports done) before the first commit
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.s3",
                s3.hub,
                f"model_{i}",
                str(i),
                "4096",
                str(start),
                str(s3.tmp),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(8)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=150)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    index = s3.index()
    assert sorted(index["models"]) == [f"model_{i}" for i in range(8)]
    stored = s3.objects()
    for entry in index["models"].values():
        card = stored[f"team/{entry['card']}"]
        assert hashlib.sha256(card).hexdigest() == entry["card-sha256"]
        asset = stored[f"team/{entry['assets'][0]['path']}"]
        assert hashlib.sha256(asset).hexdigest() == entry["assets"][0]["sha256"]
    assert not any(".ghosthub-probe" in k for k in stored)  # every probe object removed
    assert_pages_match_the_index(s3)  # the pages of the index that won, whatever the order of the writes
    print("compare-and-swap retries:", sum(r["retries"] for r in results))


def test_two_publishers_of_one_name_with_different_weights_one_wins_the_other_names_the_winner(s3):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.time() + 3.0
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.s3",
                s3.hub,
                "shared",
                str(seed),
                "4096",
                str(start),
                str(s3.tmp),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for seed in (1, 2, 3)
    ]
    results = [json.loads(p.communicate(timeout=150)[0].strip().splitlines()[-1]) for p in procs]
    winners = [r for r in results if r["ok"]]
    assert len(winners) == 1, results
    listed = s3.index()["models"]["shared"]["assets"][0]["sha256"]
    assert listed == winners[0]["sha256"]
    for loser in (r for r in results if not r["ok"]):
        assert f"asset SHA-256 {listed}" in loser["error"] and "--force" in loser["error"]
    pages = assert_pages_match_the_index(s3)  # the winner's page, though the losers wrote theirs first
    assert winners[0]["sha256"].encode() in pages["models/shared.html"]


def test_force_replaces_a_model_published_with_other_weights(s3):
    publish_file(s3.hub, "m", b"first weights")
    with pytest.raises(PublishError, match="already published .* with other weights"):
        publish_file(s3.hub, "m", b"second weights")
    done, sha = publish_file(s3.hub, "m", b"second weights", force=True)
    assert done.changed and s3.index()["models"]["m"]["assets"][0]["sha256"] == sha
    again, _ = publish_file(s3.hub, "m", b"second weights")
    assert not again.changed and not again.uploaded.created  # the same publication: nothing written


# --------------------------------------------------------------------------- multipart, killed and resumed


def test_a_publisher_killed_during_a_multipart_upload_resumes_and_sends_only_the_missing_parts(s3):
    proxy = Proxy(s3.port, rate=4 << 20)  # 4 MiB/s: a few seconds
    try:
        size, part = 16 << 20, 5 << 20  # 4 parts; stores want 5 MiB parts at least
        env = {**os.environ, "PYTHONPATH": str(REPO), "AWS_ENDPOINT_URL": proxy.url, "GHOSTHUB_PART_SIZE": str(part)}
        args = [sys.executable, "-m", "tests.support.s3", s3.hub, "big", "7", str(size), "0", str(s3.tmp)]
        killed = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        while proxy.parts_sent() < 2 and time.monotonic() < deadline and killed.poll() is None:
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=30)
        uploads = s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])
        assert len(uploads) == 1, "the killed publisher left its upload open"
        assert "team/index.json" not in s3.objects()
        sent_before = proxy.parts_sent()
        proxy.rate = None
        out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["kept"] >= 1 and result["parts"] + result["kept"] == 4
        assert proxy.parts_sent() - sent_before == result["parts"] < 4  # only the missing parts went over the wire
    finally:
        proxy.stop()
    entry = s3.index()["models"]["big"]["assets"][0]
    body = s3.client.get_object(Bucket=s3.bucket, Key=f"team/{entry['path']}")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == entry["sha256"] == result["sha256"] and len(body) == size
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


# --------------------------------------------------------------------------- stores without conditional writes


@pytest.mark.parametrize("mode, why", [("drop", "ignores If-None-Match"), ("reject", "rejects If-None-Match")])
def test_a_store_without_conditional_writes_is_refused_unless_one_writer_is_declared(s3, mode, why, monkeypatch):
    proxy = Proxy(s3.port, mode=mode)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        settings = config.settings()
        with pytest.raises(Unsupported, match=f"{why}.*--single-writer"):
            writable_store(hub_place(s3.hub), settings)
        assert "team/index.json" not in s3.objects()
        store = writable_store(hub_place(s3.hub), settings, single_writer=True)
        assert not store.conditional
        done, sha = publish_file(s3.hub, "solo", b"solo weights", store=store)
        assert done.changed and s3.index()["models"]["solo"]["assets"][0]["sha256"] == sha
        assert not [k for k in s3.objects() if ".ghosthub-probe" in k]
    finally:
        proxy.stop()


def test_a_passed_probe_is_remembered_for_the_endpoint_and_bucket_a_failed_one_never(s3, monkeypatch):
    def probes(proxy):  # each probe writes one object of its own, a few times
        return {p for m, p, _ in proxy.seen if m == "PUT" and ".ghosthub-probe-" in p}

    honest = Proxy(s3.port)
    dropping = Proxy(s3.port, mode="drop")
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", honest.url)
        writable_store(hub_place(s3.hub), config.settings())
        writable_store(hub_place(f"s3://{s3.bucket}/other-prefix"), config.settings())
        assert len(probes(honest)) == 1  # probed once for this endpoint and bucket, whatever the prefix
        monkeypatch.setenv("AWS_ENDPOINT_URL", dropping.url)  # another endpoint: probed on its own
        for _ in range(2):
            with pytest.raises(Unsupported):
                writable_store(hub_place(s3.hub), config.settings())
        assert len(probes(dropping)) == 2  # a failed probe is made again every time
    finally:
        honest.stop()
        dropping.stop()


# --------------------------------------------------------------------------- reading


def test_an_s3_hub_reads_as_a_url_hub_does_verified_cached_and_offline(s3, monkeypatch):
    data = os.urandom(50_000)
    _, sha = publish_file(s3.hub, "remote_model", data)
    client = Client(hub=s3.hub)
    assert "remote_model" in client.list_models()
    path = client.download("remote_model")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    record = json.loads((path.parent / f".{path.name}.json").read_text())
    assert record["link"].startswith(f"s3://{s3.bucket}/team/assets/") and "?" not in record["url"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: offline use of the copy
    offline = Client(hub=s3.hub, offline=True)
    assert offline.list_models("remote_*") == ["remote_model"] and offline.download("remote_model") == path


def test_cards_of_an_s3_hub_may_link_only_its_own_bucket_or_http(s3):
    store = ObjectStore(hub_place(s3.hub), config.settings())
    for name, link in (("elsewhere", "s3://other-bucket/x.ckpt"), ("local", "file:///etc/passwd")):
        text = card_for(name, "x.ckpt", "a" * 64).replace("../assets/x.ckpt", link)
        store.put(f"cards/{name}.md", text.encode())
        entry = {"card": f"cards/{name}.md", "card-sha256": hashlib.sha256(text.encode()).hexdigest()}
        from ghosthub.hub.commit import commit_index

        commit_index(store, lambda index, n=name, e=entry: {**index, "models": {**index["models"], n: e}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = Client(hub=s3.hub).list_models()
    said = " ".join(str(w.message) for w in caught if issubclass(w.category, CardWarning))
    assert "elsewhere" not in names and "local" not in names
    assert "s3://other-bucket/x.ckpt" in said and "its own bucket" in said and "never this machine's files" in said


# --------------------------------------------------------------------------- fsck and mirror


def test_fsck_finds_unreferenced_uploads_missing_objects_and_open_uploads(s3, capsys):
    publish_file(s3.hub, "kept", b"kept weights")
    done, _ = publish_file(s3.hub, "lost", b"lost weights")
    s3.client.delete_object(Bucket=s3.bucket, Key=f"team/{done.entry['assets'][0]['path']}")
    s3.client.put_object(Bucket=s3.bucket, Key="team/assets/killed-1a2b3c4d.ckpt", Body=b"killed publish")
    s3.client.create_multipart_upload(Bucket=s3.bucket, Key="team/assets/big-5e6f7a8b.ckpt")
    before = s3.objects()
    assert main(["fsck", s3.hub, "--dry-run", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [f"lost: asset s3://{s3.bucket}/team/{done.entry['assets'][0]['path']} is missing"]
    # Objects younger than the grace period may belong to a publish still running: kept. (moto dates every
    # multipart upload in 2010, so the open upload is old enough to go.)
    assert [r for r in report["removed"] if not r.endswith("(unfinished upload)")] == []
    assert s3.objects() == before and s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads")
    found = fsck(s3.hub, stale_after=0)
    assert f"s3://{s3.bucket}/team/assets/killed-1a2b3c4d.ckpt" in found.removed
    assert any(r.endswith("(unfinished upload)") for r in found.removed)
    assert "team/assets/killed-1a2b3c4d.ckpt" not in s3.objects()
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert set(s3.objects()) == set(before) - {"team/assets/killed-1a2b3c4d.ckpt"}  # listed objects untouched


def test_mirror_into_an_s3_hub_and_back_out_into_a_folder(s3, tmp_path):
    data = os.urandom(30_000)
    _, sha = publish_file(s3.hub, "source_model", data)
    second = f"s3://{s3.bucket}/copy"
    items = Client(cards=[]).mirror(["source_*"], second, hub=s3.hub)
    assert [(i.name, i.state) for i in items] == [("source_model", "new")]
    assert_pages_match_the_index(s3, "copy")
    again = Client().mirror(["source_*"], second, hub=s3.hub)
    assert [(i.name, i.state, i.fetched) for i in again] == [("source_model", "unchanged", [])]
    folder = tmp_path / "mirror"
    Client().mirror(["source_*"], folder, hub=second)
    path = Client(hub=str(folder), offline=True).download("source_model")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


# --------------------------------------------------------------------------- publish, load, and the secret


def test_publish_load_and_list_from_s3_with_the_secret_key_nowhere(s3, tmp_path):
    """The whole path through the command line, a real checkpoint included; then a grep for the secret."""
    import numpy as np

    from tests.support.publishing import save_checkpoints

    ckpt = save_checkpoints(tmp_path, seeds=(1,))[1]
    env = {**os.environ, "GHOSTHUB_CACHE": str(tmp_path / "cache")}
    published = run_cli(["publish", str(ckpt), "--name", "team_net", "--width", "0.5", "--hub", s3.hub, "--json"], env)
    assert published.returncode == 0, published.stderr
    assert ckpt.is_file()  # uploaded from where it lies: no copy of it was made, and the user's file stays
    assert [p for p in (tmp_path / "cache" / "publish").iterdir()] == []
    listed = run_cli(["list", "--hub", s3.hub, "--json"], env)
    assert "team_net" in listed.stdout, listed.stderr
    shown = run_cli(["show", "team_net", "--hub", s3.hub], env)
    downloaded = run_cli(["download", "team_net", "--hub", s3.hub], env)
    assert downloaded.returncode == 0, downloaded.stderr
    fsck_out = run_cli(["fsck", s3.hub, "--json"], env)
    import ghosthub

    net = ghosthub.load("team_net", hub=s3.hub, cache_dir=tmp_path / "cache", num_classes=4)
    assert np.isfinite(net(__import__("mindspore").Tensor(np.ones((1, 3, 32, 32), np.float32))).asnumpy()).all()
    outputs = [o.stdout + o.stderr for o in (published, listed, shown, downloaded, fsck_out)]
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert not [k for k, v in s3.objects().items() if SECRET.encode() in v or SECRET in k]
    assert not [o for o in outputs if SECRET in o]
    assert not [w for w in written if SECRET.encode() in w]
    assert not [p for p in Path.cwd().glob("s3:*")]
