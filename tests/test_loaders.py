"""Every bad input gets a clear error that names the file; good inputs keep their structure."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfWriter

from knowledge.chunking import Chunker, ChunkSettings, chunk_id
from knowledge.loaders import DocumentDefaults, DocumentError, LoaderSettings, iter_files, load_file
from tests.conftest import POLICY_QA

DEFAULTS = DocumentDefaults(audience=("everyone",))
LIMITS = LoaderSettings(max_file_mb=1)


def load(path: Path, defaults: DocumentDefaults = DEFAULTS):  # type: ignore[no-untyped-def]
    return load_file(path, defaults, LIMITS)


def test_markdown_front_matter_sets_identity_and_audience(tmp_path: Path) -> None:
    path = tmp_path / "leave-v2.md"
    path.write_text(
        "---\nid: leave\ntitle: Leave Policy\nversion: 2\neffective: 2026-01-05\n"
        "audience: [hr-team, security]\n---\n# Leave\nText.\n"
    )
    doc = load(path)
    assert (doc.doc_id, doc.title, doc.version, doc.effective_date) == (
        "leave",
        "Leave Policy",
        "2",
        "2026-01-05",
    )
    assert doc.audience == ("hr-team", "security")
    assert not doc.text.startswith("---")


def test_file_name_is_the_default_id_and_heading_the_title(tmp_path: Path) -> None:
    path = tmp_path / "Code_of_Conduct.md"
    path.write_text("# Code of Conduct\n\nBe kind.\n")
    doc = load(path)
    assert doc.doc_id == "code-of-conduct" and doc.title == "Code of Conduct"
    assert doc.audience == ("everyone",)


def test_html_headings_become_sections(tmp_path: Path) -> None:
    path = tmp_path / "travel.html"
    path.write_text(
        "<html><head><title>T</title><script>x()</script></head><body>"
        "<h1>Travel</h1><h2>Meals</h2><p>Up to 60 EUR a day.</p></body></html>"
    )
    doc = load(path)
    sections = Chunker(ChunkSettings()).sections(doc)
    assert ("Meals", "# Travel\n## Meals\nUp to 60 EUR a day.") in [
        (s, t.replace("\n\n", "\n")) for s, t in sections
    ]
    assert "x()" not in doc.text


def test_docx_headings_become_sections(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Expenses", level=1)
    document.add_heading("Hotels", level=2)
    document.add_paragraph("Hotels up to 150 EUR per night.")
    path = tmp_path / "expenses.docx"
    document.save(str(path))
    doc = load(path)
    assert doc.title == "Expenses"
    assert ("Hotels",) == tuple(s for s, _ in Chunker(ChunkSettings()).sections(doc))


def test_pdf_keeps_pages_as_sections() -> None:
    path = POLICY_QA / "Risk_Management_Policy" / "Risk_Management_Policy.pdf"
    doc = load_file(path, DEFAULTS, LoaderSettings())
    assert len(doc.pages) == 8 and doc.doc_id == "risk-management-policy"
    assert Chunker(ChunkSettings()).sections(doc)[0][0] == "page 1"


def test_plain_text_first_line_is_the_title(tmp_path: Path) -> None:
    path = tmp_path / "vpn.txt"
    path.write_text("VPN Access\n\nConnect with the company VPN client.\n")
    doc = load(path)
    assert doc.title == "VPN Access" and doc.doc_id == "vpn"


def _pdf_bytes(encrypt: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if encrypt:
        writer.encrypt(user_password=encrypt, owner_password=encrypt)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "not a readable PDF"),
        ("locked.pdf", _pdf_bytes(encrypt="secret"), "encrypted"),
        ("scan.pdf", _pdf_bytes(), "no extractable text"),
        ("empty.md", b"", "file is empty"),
        ("blank.md", b"   \n\n", "no text found"),
        ("only-meta.md", b"---\ntitle: X\n---\n", "no text found"),
        ("sheet.xlsx", b"PK\x03\x04", "unsupported file type .xlsx"),
        ("noext", b"hello", "unsupported file type (none)"),
        ("binary.txt", b"\x00\x01\x02\x03", "binary file"),
        ("bad.docx", b"not a zip", "not a readable DOCX"),
        ("badmeta.md", b"---\ntitle: [unclosed\n---\ntext\n", "front matter is not valid YAML"),
        ("typo.md", b"---\ntitel: X\n---\ntext\n", "unknown front matter keys: titel"),
        ("date.md", b"---\neffective: next week\n---\ntext\n", "not a YYYY-MM-DD date"),
        ("huge.md", b"x" * (1024 * 1024 + 1), "over the 1 MB limit"),
    ],
)
def test_bad_input_names_the_file_and_the_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError) as caught:
        load(path)
    assert caught.value.source == str(path)
    assert reason in str(caught.value)


def test_directories_are_walked_for_supported_files_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.md").write_text("# A\nx")
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "notes.csv").write_text("a,b")
    (tmp_path / ".hidden.md").write_text("# H\nx")
    found = list(iter_files([tmp_path, tmp_path / "missing.md"]))
    assert found[:2] == [tmp_path / "b.txt", tmp_path / "sub" / "a.md"]
    assert isinstance(found[2], DocumentError) and "no such file" in str(found[2])
    assert len(found) == 3


def test_chunks_keep_heading_paths_and_stable_ids(tmp_path: Path) -> None:
    path = tmp_path / "leave.md"
    path.write_text(
        "# Leave\n## Annual\nYou get 25 days.\n### Carry-over\nUp to 5 days.\n## Sick\nCall in.\n"
    )
    doc = load(path)
    nodes = Chunker(ChunkSettings()).chunk(doc, {"title": doc.title}, "hash1")
    assert [n.metadata["section"] for n in nodes] == ["Annual", "Annual > Carry-over", "Sick"]
    assert [n.node_id for n in nodes] == [chunk_id("leave", "hash1", i) for i in range(3)]
    assert "section: Annual > Carry-over" in nodes[1].get_content(metadata_mode="embed")  # type: ignore[arg-type]
    assert "chunk_index" not in nodes[1].get_content(metadata_mode="embed")  # type: ignore[arg-type]


def test_a_docx_bomb_is_refused_by_what_it_unpacks_to(tmp_path: Path) -> None:
    import zipfile

    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:p/>" * 2_000_000)  # 12 MB unpacked, a few KB packed
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DocumentError, match=r"unpacks to 11\.4 MB, over the 5 MB limit"):
        load_file(bomb, DocumentDefaults(), LoaderSettings(max_unpacked_mb=5))
    many = tmp_path / "many.docx"
    with zipfile.ZipFile(many, "w") as archive:
        for n in range(30):
            archive.writestr(f"word/media/{n}.xml", "x")
    with pytest.raises(DocumentError, match="holds 30 zip members, over the limit of 10"):
        load_file(many, DocumentDefaults(), LoaderSettings(max_zip_members=10))


def test_page_and_text_limits_name_themselves(tmp_path: Path) -> None:
    writer = PdfWriter()
    for _ in range(4):
        writer.add_blank_page(width=200, height=200)
    pdf = tmp_path / "long.pdf"
    with pdf.open("wb") as out:
        writer.write(out)
    with pytest.raises(DocumentError, match=r"has 4 pages, over the limit of 3 \(loader.max_pdf_pages\)"):
        load_file(pdf, DocumentDefaults(), LoaderSettings(max_pdf_pages=3))
    text = tmp_path / "long.txt"
    text.write_text("Leave policy\n\n" + "Staff may take leave. " * 100)
    with pytest.raises(DocumentError, match=r"over the limit of 1,000 \(loader.max_text_chars\)"):
        load_file(text, DocumentDefaults(), LoaderSettings(max_text_chars=1000))
    assert load_file(text, DocumentDefaults(), LoaderSettings()).text.startswith("Leave policy")


def test_docx_and_html_are_refused_by_their_element_count(tmp_path: Path) -> None:
    import zipfile

    bomb = tmp_path / "paragraphs.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:p/>" * 300)  # 1,800 bytes: under any size limit
    with pytest.raises(
        DocumentError, match=r"holds 301 elements, over the limit of 100 \(loader.max_elements\)"
    ):
        load_file(bomb, DocumentDefaults(), LoaderSettings(max_elements=100))
    page = tmp_path / "page.html"
    page.write_text("<html><body>" + "<p>Staff may take leave.</p>" * 99 + "</body></html>")
    with pytest.raises(DocumentError, match=r"holds 101 elements, over the limit of 100"):
        load_file(page, DocumentDefaults(), LoaderSettings(max_elements=100))
    page.write_text("<html><body>" + "<p>Staff may take leave.</p>" * 98 + "</body></html>")
    assert load_file(page, DEFAULTS, LoaderSettings(max_elements=100)).text.startswith(
        "Staff may take leave."
    )
