"""GcodeDocument: byte-exact round trips, line parsing, editing, undo."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scriptdeck.document import GcodeDocument, Line
from scriptdeck.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures"
ALL_FIXTURES = sorted(FIXTURES.glob("*.gcode"))


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_fixture_round_trips_byte_exact(path: Path) -> None:
    data = path.read_bytes()
    doc = GcodeDocument.from_file(path)
    assert doc.to_bytes() == data
    assert GcodeDocument.from_text(doc.text).to_bytes() == data
    assert b"".join((line.raw + line.ending).encode("utf-8", "surrogateescape") for line in doc) == data
    assert not doc.changed and doc.revision == 0


def test_fixtures_keep_their_conventions() -> None:
    # If git or an editor rewrote line endings, the round-trip tests would prove nothing.
    s3d = (FIXTURES / "simplify3d_crlf_nofinal.gcode").read_bytes()
    assert s3d.count(b"\r\n") == s3d.count(b"\n") and not s3d.endswith(b"\n")
    mixed = (FIXTURES / "plain_mixed.gcode").read_bytes()
    assert b"\r\n" in mixed and b"\n\n" in mixed and b"\xb0" in mixed and not mixed.endswith(b"\n")


def test_line_endings_and_counts() -> None:
    doc = GcodeDocument(b"G28\r\nG1 X1\n\nM84")
    assert len(doc) == 4
    assert [line.ending for line in doc] == ["\r\n", "\n", "\n", ""]
    assert doc[2].raw == "" and doc[-1].raw == "M84"
    assert len(GcodeDocument(b"")) == 0 and len(GcodeDocument(b"\n")) == 1
    assert GcodeDocument(b"a\r\nb\r\nc\n").line_ending == "\r\n"
    assert GcodeDocument(b"a\nb\nc\r\n").line_ending == "\n"


def test_lone_carriage_return_is_content() -> None:
    doc = GcodeDocument(b"G1 X1\rG1 X2\n")
    assert len(doc) == 1 and doc[0].raw == "G1 X1\rG1 X2"


def test_line_parsing() -> None:
    line = Line("N12 G01 X10.5 Y-3 E.25 F1800 ; perimeter *71")
    assert line.command == "G1"
    assert line.words == {"N": 12.0, "X": 10.5, "Y": -3.0, "E": 0.25, "F": 1800.0}
    assert line.comment == " perimeter *71"
    assert Line("G1X10Y20").words == {"X": 10.0, "Y": 20.0}
    assert Line("g28 x y").command == "G28" and Line("g28 x y").words == {"X": None, "Y": None}
    assert Line("M117 Printing X5 now").argument == "Printing X5 now"
    assert Line("M117 Printing X5 now").words == {}
    assert Line("(tool change) T1").command == "T1" and Line("(tool change) T1").comment == "tool change"
    assert Line("G29.1 P2").command == "G29.1"
    assert Line("; just a comment").command is None and Line("").comment is None
    assert Line("N3 G1 X1*85").words == {"N": 3.0, "X": 1.0}
    assert Line("G1 X5").get("Y", 7.0) == 7.0 and Line("G1 X5").is_move


def test_line_building() -> None:
    assert Line.make("G1", {"X": 10, "Z": 0.2}, "lift").raw == "G1 X10 Z0.2 ; lift"
    assert Line.make("G1", {"X": 1 / 3, "Y": -0.0}).raw == "G1 X0.33333 Y0"
    edited = Line("G1 X10 Y5 E0.5 ; wall", "\r\n").with_words(X=12.5, E=None)
    assert edited == Line("G1 X12.5 Y5 ; wall", "\r\n")
    assert Line("N5 G1 X1").with_words(X=2).raw == "N5 G1 X2"


def test_find_by_command_and_pattern() -> None:
    doc = GcodeDocument.from_file(FIXTURES / "cura.gcode")
    assert doc.find("M104") == [i for i, line in enumerate(doc) if line.command == "M104"]
    assert len(doc.find("M104")) == 3
    assert doc.find(["G90", "G91"]) == [i for i, line in enumerate(doc) if line.command in ("G90", "G91")]
    moves = doc.find(["G0", "G01"])
    assert moves and all(doc[i].command in ("G0", "G1") for i in moves)
    assert doc.find(pattern=r"^;LAYER:\d") == [i for i, line in enumerate(doc) if line.raw.startswith(";LAYER:")]
    assert doc.find("M109", start=0, stop=5) == []


def test_find_by_layer_and_z() -> None:
    doc = GcodeDocument.from_file(FIXTURES / "prusaslicer.gcode")
    layer1 = doc.layers[1]
    found = doc.find("G1", layer=1)
    assert found and all(layer1.first_line <= i < layer1.end_line for i in found)
    assert doc.find("G1", z=0.4) == found
    assert doc.find(z=0.2) == list(range(doc.layers[0].first_line, doc.layers[0].end_line))
    assert doc.find(z=5.0) == []


def test_insert_inherits_dominant_ending_and_replace_keeps_own() -> None:
    doc = GcodeDocument(b"G28\r\nG1 Z5\r\nM84\n")
    assert doc.insert(1, "M0\nM400") == 2
    assert doc.to_bytes() == b"G28\r\nM0\r\nM400\r\nG1 Z5\r\nM84\n"
    doc.replace(-1, "M84 ; off")
    assert doc.to_bytes().endswith(b"G1 Z5\r\nM84 ; off\n")
    doc.replace(0, Line("G28 X Y", "\n"))
    assert doc.to_bytes().startswith(b"G28 X Y\r\n")


def test_append_keeps_missing_final_newline() -> None:
    doc = GcodeDocument(b"G28\nM84")
    doc.append(["M0", Line("M1")])
    assert doc.to_bytes() == b"G28\nM84\nM0\nM1"
    empty = GcodeDocument(b"")
    empty.append("G28\nM84")
    assert empty.to_bytes() == b"G28\nM84\n"


def test_delete_and_bounds() -> None:
    doc = GcodeDocument(b"a\nb\nc\nd\n")
    doc.delete(1, 2)
    assert doc.to_bytes() == b"a\nd\n"
    with pytest.raises(IndexError, match="has 2 lines"):
        doc.delete(1, 5)
    with pytest.raises(IndexError, match="out of range"):
        doc.replace(9, "x")
    with pytest.raises(UserError, match="line break"):
        doc.insert(0, Line("a\nb"))


def test_step_is_one_undo_and_redo() -> None:
    original = (FIXTURES / "cura.gcode").read_bytes()
    doc = GcodeDocument(original)
    with doc.step("Pause at height"):
        at = doc.layers[1].first_line
        doc.insert(at, ["M400", "M0 ; pause"])
        doc.replace(0, ";FLAVOR:RepRap")
        doc.delete(len(doc) - 1)
    edited = doc.to_bytes()
    assert doc.changed and doc.can_undo and doc.undo_label == "Pause at height"
    assert doc.undo() == "Pause at height"
    assert doc.to_bytes() == original and not doc.changed and not doc.can_undo
    assert doc.redo() == "Pause at height"
    assert doc.to_bytes() == edited and doc.changed
    assert doc.undo() and doc.undo() is None


def test_edits_outside_a_step_are_each_undoable() -> None:
    doc = GcodeDocument(b"a\nb\n")
    doc.append("c")
    doc.delete(0)
    assert doc.undo() == "edit" and doc.to_bytes() == b"a\nb\nc\n"
    assert doc.undo() == "edit" and doc.to_bytes() == b"a\nb\n"


def test_nested_steps_merge_and_begin_end_api() -> None:
    doc = GcodeDocument(b"a\n")
    doc.begin_step("outer")
    doc.append("b")
    with doc.step("inner"):
        doc.append("c")
    assert not doc.can_undo  # a step is still open
    with pytest.raises(UserError, match="step is open"):
        doc.undo()
    doc.end_step()
    assert doc.undo() == "outer" and doc.to_bytes() == b"a\n"
    with pytest.raises(UserError, match="without begin_step"):
        doc.end_step()


def test_failing_step_rolls_back() -> None:
    doc = GcodeDocument(b"a\nb\n")
    with pytest.raises(RuntimeError), doc.step("broken action"):
        doc.insert(0, "x")
        doc.delete(1)
        raise RuntimeError("plugin bug")
    assert doc.to_bytes() == b"a\nb\n" and not doc.can_undo and not doc.changed


def test_revision_changed_and_mark_saved() -> None:
    doc = GcodeDocument(b"a\n")
    r0 = doc.revision
    doc.append("b")
    assert doc.revision > r0 and doc.changed
    doc.mark_saved()
    assert not doc.changed
    doc.undo()
    assert doc.changed  # differs from what was saved


def test_worker_round_trip_with_assign() -> None:
    # The runtime ships text to a worker, the action edits there, the text comes back.
    host = GcodeDocument.from_file(FIXTURES / "simplify3d_crlf_nofinal.gcode")
    original = host.to_bytes()
    worker = GcodeDocument.from_text(host.text)
    with worker.step("Pause at height"):
        worker.insert(worker.layers[1].first_line, "M600")
    assert worker.revision > 0
    host.assign(worker.text, "Pause at height")
    assert host.to_bytes() == worker.to_bytes()
    assert host.undo() == "Pause at height" and host.to_bytes() == original
    host.assign(GcodeDocument(original))  # identical: no step recorded
    assert not host.can_undo


def test_stats_cache_follows_edits() -> None:
    doc = GcodeDocument(b"G1 Z0.2\nG1 X10 E1\n")
    assert doc.stats().layers == 1
    doc.append(["G1 Z0.4", "G1 X0 E2"])
    assert doc.stats().layers == 2
    doc.undo()
    assert doc.stats().layers == 1


def test_save(tmp_path: Path) -> None:
    data = (FIXTURES / "plain_mixed.gcode").read_bytes()
    GcodeDocument(data).save(tmp_path / "out.gcode")
    assert (tmp_path / "out.gcode").read_bytes() == data


def test_from_file_drops_a_leading_bom(tmp_path: Path) -> None:
    # An editor's encoding mark, not G-code: if kept, line 1 would be sent as "\ufeffG28" (unknown: no homing).
    path = tmp_path / "bom.gcode"
    path.write_bytes(b"\xef\xbb\xbfG28\r\nG1 X1\r\n")
    doc = GcodeDocument.from_file(path)
    assert doc[0].raw == "G28" and doc.find("G28") == [0]
    assert doc.to_bytes() == b"G28\r\nG1 X1\r\n" and not doc.changed
    assert GcodeDocument.from_bytes(b"\xef\xbb\xbfG28").to_bytes() == b"\xef\xbb\xbfG28"  # bytes stay exact


def test_from_file_refuses_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "b.gcode"
    path.write_bytes(b"G28\n\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(UserError, match=r"b\.gcode: byte offset 12 \(line 4\) is 0x00, a control byte"):
        GcodeDocument.from_file(path)


_gcodeish = st.lists(
    st.sampled_from([b"G1 X1.5 Y2 E0.1", b"; comment \xff", b"", b"  ", b"\r", b"M104 S200", b"G28", b"\t;x"]),
    max_size=12,
).map(lambda parts: b"\n".join(parts))


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300), _gcodeish, _gcodeish.map(lambda b: b.replace(b"\n", b"\r\n"))))
def test_any_bytes_round_trip(data: bytes) -> None:
    doc = GcodeDocument.from_bytes(data)
    assert doc.to_bytes() == data
    assert GcodeDocument.from_text(doc.text).to_bytes() == data
    assert sum(1 for _ in doc) == len(doc)


_edit = st.tuples(st.sampled_from(["insert", "replace", "delete", "append"]), st.integers(0, 50), st.text(max_size=20))


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=200), _gcodeish), st.lists(_edit, max_size=8))
def test_edits_then_undo_restore_original_bytes(data: bytes, edits: list[tuple[str, int, str]]) -> None:
    doc = GcodeDocument(data)
    with doc.step("random action"):
        for kind, where, text in edits:
            size = len(doc)
            if kind == "append":
                doc.append(text)
            elif kind == "insert":
                doc.insert(where % (size + 1), text)
            elif size and kind == "replace":
                doc.replace(where % size, text)
            elif size and kind == "delete":
                doc.delete(where % size, 1 + where % 2 if where % size + 1 + where % 2 <= size else 1)
    after = doc.to_bytes()
    doc.undo()
    assert doc.to_bytes() == data
    doc.redo()
    assert doc.to_bytes() == after
    restored = GcodeDocument(data)
    restored.assign(after)
    assert restored.to_bytes() == after
    restored.undo()
    assert restored.to_bytes() == data


def test_appending_text_that_ends_in_a_newline_adds_no_blank_line() -> None:
    # A format's open often does document.append(file.read().decode()): the round trip must hold.
    doc = GcodeDocument()
    assert doc.append("G28\nG1 X1\n") == 2
    assert doc.to_bytes() == GcodeDocument.from_text("G28\nG1 X1\n").to_bytes() == b"G28\nG1 X1\n"
    assert doc.append("\n") == 1  # one blank line, asked for
    assert doc.to_bytes() == b"G28\nG1 X1\n\n"
