"""``sd agent ask``: a request in words, answered by a language model (a scripted provider
on 127.0.0.1 speaking the OpenAI-compatible chat API) with a proposal of the ask agent,
against a real tree indexed by ``sd location add``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import Sd
from tests.helpers_tree import pdf_bytes, write
from tests.llm_server import ScriptedLlm, calls, configure, says, serve, tool_answers

REQUEST = "put my 2023 tax PDFs into Documents/Taxes/2023"


def home(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    write(root, "Downloads/tax-return-2023.pdf", pdf_bytes())
    write(root, "Downloads/2023 tax receipt donations.pdf", pdf_bytes() + b"%1")
    write(root, "Downloads/tax-return-2022.pdf", pdf_bytes() + b"%2")
    write(root, "Downloads/tax 2023 notes.txt", "not a pdf")
    write(root, "Pictures/beach.jpg", b"\xff\xd8 not really")
    (root / "Documents/Taxes/2023").mkdir(parents=True)
    return root


@pytest.fixture
def indexed(sd: Sd, tmp_path: Path) -> Path:
    """The home folder indexed, the ask agent granted Downloads and Documents (not Pictures)."""
    root = home(tmp_path)
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(root))
    sd.run("agent", "grant", "ask", "--location", str(root / "Downloads"))
    sd.run("agent", "grant", "ask", "--location", str(root / "Documents"))
    return root


def filer(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
    """A model that searches, then moves each 2023 PDF it found into the folder asked for."""
    answers = tool_answers(messages)
    if not answers:
        return calls(("search", {"query": "tax 2023"}))
    if len(answers) == 1:
        found = [f["path"] for f in answers[0]["found"] if f["path"].endswith(".pdf")]
        target = next(f["path"] for f in answers[0]["found"] if "Downloads" in f["path"])
        docs = os.path.join(os.path.dirname(os.path.dirname(target)), "Documents/Taxes/2023")
        return calls(("list_folder", {"path": docs}))
    if len(answers) == 2:
        found = [f["path"] for f in answers[0]["found"] if f["path"].endswith(".pdf")]
        docs = answers[1]["path"]
        return calls(
            *(
                (
                    "file_move",
                    {
                        "source": p,
                        "destination": docs,
                        "reason": f"{os.path.basename(p)} is a 2023 tax PDF",
                    },
                )
                for p in found
                if "2023" in os.path.basename(p)
            )
        )
    return says("Moved your 2023 tax PDFs into Documents/Taxes/2023.")


@pytest.fixture
def llm() -> Iterator[ScriptedLlm]:
    with serve(filer) as llm:
        yield llm


def events(sd: Sd, prefix: str) -> list[dict[str, Any]]:
    return sd.json_lines("log", "show", "--type", prefix)


def test_without_a_provider_it_says_what_to_write_in_node_toml(sd: Sd, indexed: Path) -> None:
    failed = sd.fails("agent", "ask", REQUEST)
    assert failed.err == (
        f"sd: error: no language-model provider is configured; add to "
        f"{sd.data_dir / 'node.toml'} the lines: [agents.llm] / "
        'url = "http://127.0.0.1:11434/v1" / model = "llama3.2" (and api_key_env = '
        '"VARIABLE" naming the environment variable of its key, if it needs one)\n'
    )
    assert events(sd, "agent.proposed") == []


def test_a_request_in_words_becomes_a_proposal_of_the_moves_the_model_chose(
    sd: Sd, indexed: Path, llm: ScriptedLlm
) -> None:
    configure(sd, llm.url, api_key_env="SD_TEST_LLM_KEY")
    sd.env["SD_TEST_LLM_KEY"] = "sk-test-secret-4242"
    found = sd.json("agent", "ask", REQUEST, "--json")
    docs = indexed / "Documents/Taxes/2023"
    moves = sorted((i["args"]["source"], i["args"]["destination"]) for i in found["items"])
    assert moves == [
        (str(indexed / "Downloads/2023 tax receipt donations.pdf"), str(docs)),
        (str(indexed / "Downloads/tax-return-2023.pdf"), str(docs)),
    ]
    assert {i["op"] for i in found["items"]} == {"file.move"}
    assert all(i["reason"].endswith("is a 2023 tax PDF") for i in found["items"])
    assert found["agent"] == "ask" and found["title"] == f"asked: {REQUEST}"
    assert found["answer"] == "Moved your 2023 tax PDFs into Documents/Taxes/2023."
    # Proposed, not done: the files are where they were.
    assert (indexed / "Downloads/tax-return-2023.pdf").exists() and not any(docs.iterdir())
    [proposed] = events(sd, "agent.proposed")
    assert proposed["body"]["proposal"] == found["proposal"]
    assert proposed["body"]["agent"] == "ask"
    # The conversation: the commands offered as tools from their declared shapes, the read
    # tools answered from the index, the key sent in the header only.
    first = llm.requests[0]
    assert first.headers["authorization"] == "Bearer sk-test-secret-4242"
    tools = {t["function"]["name"]: t["function"] for t in first.body["tools"]}
    assert set(tools) == {
        "search",
        "list_folder",
        "file_info",
        "file_move",
        "file_remove",
        "tag_add",
        "tag_remove",
        "agent_rule_add",
    }
    move = tools["file_move"]["parameters"]
    assert move["required"] == ["source", "destination", "reason"]
    assert "force" not in move["properties"] and "library" not in move["properties"]
    assert "permanent" not in tools["file_remove"]["parameters"]["properties"]
    assert tools["tag_add"]["parameters"]["properties"]["paths"]["type"] == "array"
    searched = json.loads(llm.requests[1].body["messages"][-1]["content"])["found"]
    assert {f["path"] for f in searched} >= {
        str(indexed / "Downloads/tax-return-2023.pdf"),
        str(indexed / "Downloads/tax 2023 notes.txt"),
    }
    listed = json.loads(llm.requests[2].body["messages"][-1]["content"])
    assert listed == {"path": str(docs), "entries": [], "more": 0}
    # The request is audited; the key is nowhere in the library or the node's files.
    [asked] = [a for a in sd.json("--json", "audit") if a["command"] == "agent.ask"]
    assert asked["arguments"]["request"] == REQUEST and asked["state"] == "completed"
    for folder, _, files in os.walk(sd.data_dir):
        for name in files:
            assert b"sk-test-secret-4242" not in Path(folder, name).read_bytes(), name
    # Asked again, the same conclusion is the same proposal (one fact, one id).
    again = sd.json("agent", "ask", REQUEST, "--json")
    assert again["proposal"] == found["proposal"]


def test_the_proposal_is_previewed_accepted_and_run_as_the_user(
    sd: Sd, indexed: Path, llm: ScriptedLlm
) -> None:
    configure(sd, llm.url)
    out = sd.run("agent", "ask", REQUEST).out.splitlines()
    [open_] = sd.json("agent", "proposals")
    pid, docs = open_["id"], indexed / "Documents/Taxes/2023"
    assert open_["agent"] == "ask" and open_["title"] == f"asked: {REQUEST}"
    # Shown as sd agent show shows it, then the model's words.
    assert out[:-1] == sd.run("agent", "show", pid).out.splitlines()
    assert out[0] == f"proposal {pid} by agent ask: asked: {REQUEST}"
    assert f"   1. sd mv {indexed}/Downloads/" in out[2]
    assert out[3].endswith("is a 2023 tax PDF")
    assert out[-1] == "the model says: Moved your 2023 tax PDFs into Documents/Taxes/2023."
    done = sd.json("agent", "accept", pid)
    assert [o["ok"] for o in done["outcomes"]] == [True, True]
    assert sorted(p.name for p in docs.iterdir()) == [
        "2023 tax receipt donations.pdf",
        "tax-return-2023.pdf",
    ]
    assert sorted(p.name for p in (indexed / "Downloads").iterdir()) == [
        "tax 2023 notes.txt",
        "tax-return-2022.pdf",
    ]
    moves = [a for a in sd.json("audit") if a["command"] == "file.move"]
    assert len(moves) == 2 and {a["proposal"] for a in moves} == {pid}
    assert sd.json("agent", "proposals") == []


def test_a_rejected_proposal_changes_nothing(sd: Sd, indexed: Path, llm: ScriptedLlm) -> None:
    configure(sd, llm.url)
    found = sd.json("agent", "ask", REQUEST)
    sd.run("agent", "reject", found["proposal"])
    assert (indexed / "Downloads/tax-return-2023.pdf").exists()
    assert not any((indexed / "Documents/Taxes/2023").iterdir())
    assert [a for a in sd.json("audit") if a["command"] == "file.move"] == []


def test_without_a_grant_it_says_how_to_give_one(sd: Sd, tmp_path: Path) -> None:
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(home(tmp_path)))
    configure(sd, "http://127.0.0.1:9/v1")
    assert sd.fails("agent", "ask", REQUEST).err == (
        "sd: error: no proposal: the ask agent is granted no place of this device; an admin "
        "grants it some with 'sd agent grant ask --location PATH'\n"
    )


def test_the_model_sees_nothing_outside_the_grant(sd: Sd, indexed: Path) -> None:
    beach = str(indexed / "Pictures/beach.jpg")

    def script(messages: Any, tools: Any) -> Any:
        answers = tool_answers(messages)
        if not answers:
            return calls(
                ("search", {"query": "beach"}),
                ("list_folder", {"path": str(indexed / "Pictures")}),
                ("file_info", {"path": beach}),
            )
        return calls(("file_move", {"source": beach, "destination": str(indexed), "reason": "x"}))

    err, llm = ask_fails(sd, script)
    assert err == f"sd: error: no proposal: file.move: {beach} is outside the agent's grant\n"
    answered = [json.loads(m["content"]) for m in llm.requests[1].body["messages"][-3:]]
    assert answered == [
        {"found": []},
        {"error": f"no folder {indexed / 'Pictures'} among the places granted"},
        {"error": f"no file {beach} among the places granted"},
    ]


def ask_fails(sd: Sd, script: Any, **settings: Any) -> tuple[str, ScriptedLlm]:
    """What ``sd agent ask`` says when the provider answers by ``script``; nothing proposed."""
    with serve(script) as llm:
        configure(sd, llm.url, **settings)
        failed = sd.fails("agent", "ask", REQUEST)
    assert events(sd, "agent.proposed") == []
    return failed.err, llm


def test_a_provider_that_is_down_is_one_line(sd: Sd, indexed: Path) -> None:
    with serve(filer) as llm:
        url = llm.url
    configure(sd, url)  # the server is gone: its port refuses
    failed = sd.fails("agent", "ask", REQUEST)
    assert failed.err.startswith(f"sd: error: the language model at {url}: cannot be reached (")
    assert failed.err.count("\n") == 1


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ((200, b"<html>hello</html>"), "answered no JSON (<html>hello</html>)"),
        (
            (200, b'{"choices": []}'),
            'answered something that is not a chat completion ({"choices": []})',
        ),
        (
            (500, b'{"error": "model not loaded"}'),
            'refused the request (HTTP 500: {"error": "model not loaded"})',
        ),
    ],
)
def test_a_provider_answering_garbage_is_one_line(
    sd: Sd, indexed: Path, answer: tuple[int, bytes], said: str
) -> None:
    err, _ = ask_fails(sd, lambda messages, tools: answer)
    assert err.startswith("sd: error: the language model at http://127.0.0.1:")
    assert err.endswith(f"/v1: {said}\n")


def test_arguments_that_are_not_json_are_one_line(sd: Sd, indexed: Path) -> None:
    def script(messages: Any, tools: Any) -> Any:
        message = calls(("search", {"query": "x"}))
        message["tool_calls"][0]["function"]["arguments"] = "{not json"
        return message

    err, _ = ask_fails(sd, script)
    assert err.endswith(
        "answered something that is not a chat completion "
        "(the arguments of search are not JSON: {not json)\n"
    )


def test_a_command_no_agent_may_run_is_refused(sd: Sd, indexed: Path) -> None:
    src = str(indexed / "Downloads/tax-return-2023.pdf")
    err, _ = ask_fails(
        sd,
        lambda messages, tools: calls(
            ("file_copy", {"source": src, "destination": "/tmp", "reason": "why not"})
        ),
    )
    assert err == (
        "sd: error: no proposal: the model named 'file_copy', not a command an agent may run "
        "(agent_rule_add, file_move, file_remove, tag_add, tag_remove)\n"
    )


def test_a_path_outside_the_grant_is_refused_and_never_read(
    sd: Sd, indexed: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere/secret.pdf"
    write(tmp_path, "elsewhere/secret.pdf", pdf_bytes())

    def script(messages: Any, tools: Any) -> Any:
        answers = tool_answers(messages)
        if not answers:
            return calls(("file_info", {"path": str(outside)}))
        return calls(("file_remove", {"path": str(outside), "reason": "a stray PDF"}))

    err, llm = ask_fails(sd, script)
    assert err == f"sd: error: no proposal: file.remove: {outside} is outside the agent's grant\n"
    read = json.loads(llm.requests[1].body["messages"][-1]["content"])
    assert read == {"error": f"no file {outside} among the places granted"}
    assert outside.exists()


def test_a_model_that_keeps_looking_is_stopped_after_its_rounds(sd: Sd, indexed: Path) -> None:
    err, llm = ask_fails(sd, lambda m, t: calls(("search", {"query": "tax"})), rounds=3)
    assert err == "sd: error: no proposal: the model was still looking after 3 rounds\n"
    assert len(llm.requests) == 3


def test_a_model_that_proposes_nothing_says_so(sd: Sd, indexed: Path) -> None:
    err, _ = ask_fails(sd, lambda m, t: says("I cannot find any tax PDFs."))
    assert err == (
        "sd: error: no proposal: the model proposed no command: it said "
        "'I cannot find any tax PDFs.'\n"
    )


def test_a_provider_slower_than_its_timeout_is_one_line(sd: Sd, indexed: Path) -> None:
    def slow(messages: Any, tools: Any) -> Any:
        time.sleep(3)
        return says("too late")

    started = time.monotonic()
    err, _ = ask_fails(sd, slow, timeout=1)
    assert err.endswith("/v1: no answer within 1 s\n")
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"url": "127.0.0.1:11434"}, "[agents.llm] url must be an http:// or https:// address"),
        ({"model": ""}, "[agents.llm] model must be the name of a model the provider serves"),
        ({"rounds": 0}, "[agents.llm] rounds must be a whole number from 1 to 50 (it is 0)"),
        ({"timeout": "soon"}, "[agents.llm] timeout must be a number of seconds, at most 3600"),
    ],
)
def test_a_provider_misconfigured_in_node_toml_is_one_line(
    sd: Sd, indexed: Path, settings: dict[str, Any], said: str
) -> None:
    table = {"url": "http://127.0.0.1:9/v1", "model": "m", **settings}
    with open(sd.data_dir / "node.toml", "a") as f:
        f.write("\n[agents.llm]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()))
    failed = sd.fails("agent", "ask", REQUEST)
    assert failed.err.startswith(f"sd: error: {sd.data_dir / 'node.toml'}: {said}")
    assert failed.err.count("\n") == 1


def test_a_key_variable_that_is_empty_is_one_line_naming_it(sd: Sd, indexed: Path) -> None:
    configure(sd, "http://127.0.0.1:9/v1", api_key_env="SD_TEST_NO_SUCH_KEY")
    failed = sd.fails("agent", "ask", REQUEST)
    assert failed.err == (
        "sd: error: the language model at http://127.0.0.1:9/v1: the environment variable "
        "SD_TEST_NO_SUCH_KEY holds no key\n"
    )
