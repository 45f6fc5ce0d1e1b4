"""Tables keep their rows and headers (PDF, DOCX, HTML); PDF page furniture is dropped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from knowledge.loaders import DocumentDefaults, LoaderSettings, format_table, load_file
from knowledge.page_furniture import page_headings, remove_page_furniture
from knowledge.pdf import read_pdf
from tests.conftest import POLICY_QA

DEFAULTS = DocumentDefaults(audience=("everyone",))
HR_POLICY = POLICY_QA / "HR_HR_Policy" / "HR_Policy.pdf"
SECURITY_POLICY = POLICY_QA / "Security_Information_Security_Policy" / "Information_Security_Policy.pdf"
needs_policy_qa = pytest.mark.skipif(not HR_POLICY.exists(), reason="policy-qa data set not present")


@needs_policy_qa
def test_pdf_transport_and_leave_tables_are_rows_with_their_headers() -> None:
    pages = read_pdf(HR_POLICY)
    transport = pages[22].text
    assert (
        "\n\n| Mode of Transport: For motor-car | Rates of Transport Reimbursement: 60 cents per km |\n"
        in transport
    )
    assert (
        "| Mode of Transport: For Bus / MRT / Taxi | Rates of Transport Reimbursement: As per actual fare |"
        in transport
    )
    # The table's text is not repeated as flat prose around it.
    assert transport.count("60 cents per km") == 1 and "Mode of Transport Rates" not in transport
    leave = pages[29].text
    assert (
        "| Less than 10 years of service | Grade N1 to N3: 14 working days | Grade N4 & above: 18 working days |"
        in leave
    )
    assert (
        "| 10 years of service or more | Grade N1 to N3: 18 working days | Grade N4 & above: 21 working days |"
        in leave
    )
    assert "4. TRANSPORT CLAIMS" in pages[22].headings


@needs_policy_qa
def test_pdf_page_furniture_and_contents_lines_are_gone() -> None:
    pages = [page.text for page in read_pdf(SECURITY_POLICY)]
    text = "\n".join(pages)
    assert not re.search(r"Page \d+ of \d+", text)
    assert not re.search(r"\.{5,}\s*\d+\s*$", text, re.MULTILINE)
    assert len(pages) == 94  # pages keep their numbers even when a contents page empties
    hr_pages = [page.text for page in read_pdf(HR_POLICY)]
    assert not any(line.strip() == "23" for line in hr_pages[22].splitlines())  # the printed page number


def test_furniture_rule_keeps_lines_seen_on_few_pages() -> None:
    topics = ["leave", "travel", "pay", "training", "conduct", "benefits"]
    pages = [f"Acme Handbook\nRules on {topic}.\nPage {n} of 6" for n, topic in enumerate(topics, 1)]
    pages[0] = "Acme Handbook\nContents\nLeave ........ 3\nTravel .... 4\nPage 1 of 6"
    pages[2] = "Acme Handbook\nSee the form.\nRules on pay.\nPage 3 of 6"
    pages[3] = "Acme Handbook\nSee the form.\nRules on training.\nPage 4 of 6"
    cleaned = remove_page_furniture(pages)
    assert all("Acme Handbook" not in page and "of 6" not in page for page in cleaned)
    assert cleaned[0] == "Contents"
    assert cleaned[2] == "See the form.\nRules on pay."  # on two pages only: kept
    assert cleaned[1] == "Rules on travel."


def test_table_rows_stand_alone_with_headers_spans_and_no_header() -> None:
    block, headers = format_table([["Grade", "Days"], ["N1 to N3", "14"], ["N4 & above", "18"]])
    assert block == "| Grade: N1 to N3 | Days: 14 |\n| Grade: N4 & above | Days: 18 |"
    assert headers == ["Grade", "Days"]
    # Numbers in the first row: no usable header, cells stay bare.
    assert format_table([["1", "2"], ["3", "4"]])[0] == "| 1 | 2 |\n| 3 | 4 |"
    # Two-level header over merged cells; a merged value is written once under both headers.
    block, _ = format_table(
        [
            ["Before", "Before", "After"],
            ["Grade", "Notice", "Notice"],
            ["N1", "1 week", "1 month"],
            ["N2", "2 weeks", "2 weeks"],
        ]
    )
    assert block.splitlines()[0] == "| Before Grade: N1 | Before Notice: 1 week | After Notice: 1 month |"


def test_docx_table_rows_keep_headers_in_document_order(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Travel", level=1)
    document.add_paragraph("Rates are as below:")
    table = document.add_table(rows=3, cols=2)
    for row, values in zip(
        table.rows,
        [
            ("Mode of Transport", "Rate"),
            ("For motor-car", "60 cents per km"),
            ("For taxi", "As per actual fare"),
        ],
        strict=True,
    ):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("Claims are made monthly.")
    path = tmp_path / "travel.docx"
    document.save(str(path))
    text = load_file(path, DEFAULTS, LoaderSettings()).text
    assert "Rates are as below:\n\n| Mode of Transport: For motor-car | Rate: 60 cents per km |\n" in text
    assert text.index("For taxi") < text.index("Claims are made monthly.")


def test_html_table_rows_keep_headers(tmp_path: Path) -> None:
    path = tmp_path / "leave.html"
    path.write_text(
        "<html><body><h1>Leave</h1><table><thead><tr><th>Service</th><th>Grade N1 to N3</th>"
        "<th>Grade N4 &amp; above</th></tr></thead><tbody>"
        "<tr><td>Less than 10 years</td><td>14 working days</td><td>18 working days</td></tr>"
        "<tr><td colspan='3'><p>Pro-rated in the first year</p></td></tr></tbody></table></body></html>"
    )
    text = load_file(path, DEFAULTS, LoaderSettings()).text
    assert (
        "| Service: Less than 10 years | Grade N1 to N3: 14 working days | Grade N4 & above: 18 working days |"
        in text
    )
    assert "| Service / Grade N1 to N3 / Grade N4 & above: Pro-rated in the first year |" in text
    assert text.count("14 working days") == 1  # cells are no longer also emitted one per block


def test_headings_are_numbered_or_capital_lines() -> None:
    text = "4. TRANSPORT CLAIMS\n4.1 Staff may claim actual transport.\nANNUAL LEAVE\n| A: b |\nplain text"
    assert page_headings(text) == ["4. TRANSPORT CLAIMS", "ANNUAL LEAVE"]
