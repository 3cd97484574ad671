"""How an argument is said: Python's keyword outside a command, the command's own flag inside one."""

import threading

from ghosthub._utils.spelling import either, said, spoken_as


def test_python_spelling_by_default():
    assert said("offline", True) == "offline=True"
    assert said("checkpoint_path") == "checkpoint_path="
    assert said("resume", "runs/x/epoch-0003.ckpt") == "resume='runs/x/epoch-0003.ckpt'"


def test_a_command_says_its_flags_and_nothing_it_lacks():
    with spoken_as({"offline": "--offline", "resume": "--resume CKPT"}):
        assert said("offline", True) == "--offline"
        assert said("resume") == "--resume CKPT"
        assert said("resume", "runs/x/epoch-0003.ckpt") == "--resume runs/x/epoch-0003.ckpt"
        assert said("checkpoint_path") is None
        assert either("GHOSTHUB_CACHE", said("cache_dir")) == "GHOSTHUB_CACHE"
    assert said("offline", True) == "offline=True", "put back after the block"


def test_a_command_s_spelling_holds_in_the_threads_it_starts():
    seen = []
    with spoken_as({"offline": "--offline"}):
        thread = threading.Thread(target=lambda: seen.append(said("offline", True)))  # a download's worker
        thread.start()
        thread.join()
    assert seen == ["--offline"]


def test_either_joins_the_ways_given():
    assert either() == "" and either(None, "a") == "a"
    assert either("a", "b") == "a or b" and either("a", None, "b", "c") == "a, b or c"
