"""Repairs of front-matter lines that plain YAML misreads but a person reads one way."""

from __future__ import annotations

import re

# Keys of the Chinese MindSpore Hub cards (written with a full-width colon).
_CHINESE_KEYS = {
    "模型名称": "model-name",
    "骨干网络": "backbone-name",
    "模块类型": "module-type",
    "可微调": "fine-tunable",
    "输入形状": "input-shape",
    "模型版本": "model-version",
    "训练数据集": "train-dataset",
    "准确率": "accuracy",
    "评估": "evaluation",
    "作者": "author",
    "更新时间": "update-time",
    "代码仓链接": "repo-link",
    "用户ID": "user-id",
    "用途": "used-for",
    "训练后端": "train-backend",
    "推理后端": "infer-backend",
    "MindSpore版本": "mindspore-version",
    "MindSpore Lite": "mindspore-lite",
    "资源": "asset",
    "文件格式": "file-format",
    "资源链接": "asset-link",
    "资源SHA256校验码": "asset-sha256",
    "许可证": "license",
    "摘要": "summary",
}


# --------------------------------------------------------------------------- repairs

# Patterns, compiled by re's own cache on the first repair: most processes never repair a card.
_KEY_VALUE = r"(?P<lead>\s*(?:-\s+)?)(?P<key>[^\s:#\-][^:]*?)\s*:(?:\s+(?P<value>.*?))?\s*"
_FULL_WIDTH = r"(?P<lead>\s*(?:-\s+)?)(?P<key>[^:：#\s][^:：]*?)\s*：\s*(?P<value>.*?)\s*"


def repair(front: str, first_line: int) -> tuple[str, list[str]]:
    """Rewrite lines plain YAML misreads but a person reads one way; return the text and what changed."""
    out, repairs = [], []
    for number, line in enumerate(front.splitlines(), first_line):
        fixed, why = _repair_line(line)
        if why:
            repairs.append(f"line {number}: {why}")
        out.append(fixed)
    return "\n".join(out) + "\n", repairs


def _repair_line(line: str) -> tuple[str, str | None]:
    whys = []
    match = re.fullmatch(_FULL_WIDTH, line)
    if match and ":" not in match["key"]:
        key = _CHINESE_KEYS.get(match["key"], match["key"])
        value = match["value"]
        whys.append(f"read full-width '：' after {match['key']!r} as {key!r}")
        if key == "file-format" and value.startswith("."):
            whys.append(f"read file-format {value!r} as {value[1:]!r}")
            value = value[1:]
        line = f"{match['lead']}{key}: {value}".rstrip()
    match = re.fullmatch(_KEY_VALUE, line)
    if match and match["value"]:
        value = match["value"]
        if value == "-":
            whys.append(f"read bare '-' value of {match['key']!r} as text")
            line = f"{match['lead']}{match['key']}: '-'"
        elif value[0] not in "'\"[{|>&*!" and (": " in value or value.endswith(":")):
            whys.append(f"quoted value of {match['key']!r} that contains ': '")
            line = f"{match['lead']}{match['key']}: '" + value.replace("'", "''") + "'"
    return line, "; ".join(whys) or None
