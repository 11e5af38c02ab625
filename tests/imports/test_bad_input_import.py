"""Bad input to the CSV import: every good row imported, every bad row reported by line."""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from jobs.runs import enqueue
from models import Company, Contact, JobRun, JobStatus, db
from models.imports import read_report, run_import

HEADER = "first_name,last_name,email,company\n"


def write(tmp_path, data: bytes, name: str = "contacts.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_companies_with_non_ascii_capitals_are_created_once_and_matched(ctx, tmp_path):
    text = HEADER + "".join([
        "Aino,Aalto,aino@example.fi,Ääni Oy\n",
        "Bea,Balogh,bea@example.hu,Új Cég Kft.\n",
        "Cecilia,Öberg,cecilia@example.se,ÄÄNI  OY \n",      # same company, other case/spaces
        "Dóra,Dévai,dora@example.hu,új cég kft.\n",
        "Eemil,Östman,eemil@example.fi,Ωmega Ltd\n",
        "Frida,Fors,frida@example.se,ΩMEGA LTD\n",
    ])
    result = run_import(write(tmp_path, text.encode()))
    assert (result["imported"], result["rejected"], result["companies_created"]) == (6, 0, 3)
    names = set(db.session.scalars(select(Company.name)))
    assert names == {"Ääni Oy", "Új Cég Kft.", "Ωmega Ltd"}
    by_email = {c.email: c.company.name for c in db.session.scalars(select(Contact))}
    assert by_email["cecilia@example.se"] == "Ääni Oy"
    assert by_email["dora@example.hu"] == "Új Cég Kft."
    # A second file finds the same companies (stored keys), creating none.
    again = run_import(write(tmp_path, (HEADER + "Gé,Gál,ge@example.hu,ÚJ CÉG KFT.\n").encode()))
    assert again["companies_created"] == 0
    assert db.session.scalar(select(func.count()).select_from(Company)) == 3


def test_a_company_created_in_the_back_office_is_matched_by_the_import(ctx, tmp_path):
    db.session.add(Company(name="Öljy-Yhtiö Oy"))
    db.session.commit()
    result = run_import(write(tmp_path, (HEADER + "A,B,a@example.fi,öljy-yhtiö oy\n").encode()))
    assert result["companies_created"] == 0 and result["imported"] == 1


def test_rows_that_are_not_utf8_or_hold_a_nul_are_rejected_with_their_line(ctx, tmp_path):
    good = [f"Good,Row{n},good{n}@example.fi,Firma Oy\n".encode() for n in range(40)]
    lines = [HEADER.encode(), *good[:10],
             "Bad,Latin,latin1@example.fi,Kahvila Ääni\n".encode("latin-1"),   # line 12
             *good[10:20],
             b"Nul,Row,nul@example.fi,Fir\x00ma\n",                              # line 23
             *good[20:30],
             b"\xff\xfe\xfa,x,bytes@example.fi,\n",                               # line 34
             *good[30:]]
    result = run_import(write(tmp_path, b"".join(lines)))
    assert (result["imported"], result["rejected"]) == (40, 3)
    reasons = {int(r["line"]): r["reason"] for r in read_report(result["report_path"])}
    assert "company: not valid UTF-8" in reasons[12]
    assert "company: contains a NUL character" in reasons[23]
    assert "first_name: not valid UTF-8" in reasons[34]
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 40


def test_a_whole_latin1_file_imports_its_ascii_rows_as_a_job(ctx, tmp_path, run_jobs):
    text = HEADER + "Åsa,Öst,asa@example.se,Kött AB\nPer,Berg,per@example.se,Berg AB\n"
    path = write(tmp_path, text.encode("latin-1"))
    run = enqueue("import_contacts", {"path": str(path), "filename": "latin1.csv"})
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.status == JobStatus.DONE, run.error
    assert (run.result["imported"], run.result["rejected"]) == (1, 1)


def test_a_nul_deep_in_a_big_file_rejects_one_row(ctx, tmp_path, run_jobs):
    rows = [f"N{n},L{n},p{n}@example.fi,Yritys {n % 7}\n".encode() for n in range(4001)]
    rows.insert(3000, b"Bad,Nul,badnul@example.fi,\x00\n")
    path = write(tmp_path, HEADER.encode() + b"".join(rows))
    run = enqueue("import_contacts", {"path": str(path), "filename": "big.csv"})
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.status == JobStatus.DONE, run.error
    assert (run.result["imported"], run.result["rejected"]) == (4001, 1)


def test_the_report_neutralises_formula_cells(ctx, tmp_path):
    text = HEADER + "=HYPERLINK(\"http://x\"),B,not-an-email,@SUM(1)\n"
    result = run_import(write(tmp_path, text.encode()))
    raw = open(result["report_path"], encoding="utf-8").read()
    assert "'=HYPERLINK" in raw and "'@SUM(1)" in raw


def test_a_failed_import_job_shows_no_traceback(admin_client, ctx, tmp_path, run_jobs):
    path = write(tmp_path, b"name,phone\nAino,123\n")
    run = enqueue("import_contacts", {"path": str(path), "filename": "x.csv"})
    run_jobs()
    page = admin_client.get(f"/admin/jobrun/progress/{run.id}").get_data(as_text=True)
    assert "no &#39;email&#39; column" in page
    assert "Traceback" not in page and ".py" not in page


# Good rows around arbitrary bytes still import: the bytes may break their own row only.
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(min_size=1, max_size=60))
@example(junk=b"\x00\x00")  # two NULs in a short file once made the whole file "binary"
def test_fuzzed_bytes_break_only_their_own_rows(ctx, tmp_path, junk):
    from tests.conftest import _empty_tables

    _empty_tables()
    junk = junk.replace(b"\n", b" ").replace(b"\r", b" ").replace(b'"', b" ")
    data = (HEADER.encode() + b"A,One,one@example.fi,X Oy\n" + junk + b"\n"
            + b"C,Three,three@example.fi,Y Oy\n")
    result = run_import(write(tmp_path, data))
    emails = set(db.session.scalars(select(Contact.email_key)))
    assert {"one@example.fi", "three@example.fi"} <= emails
    assert result["imported"] + result["rejected"] >= 2


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"\xff\xfee\x00m\x00a\x00i\x00l\x00\n\x00", "UTF-16"),
    (b"PK\x03\x04\x14\x00\x00\x00", "not a CSV file"),
    (b"name;phone\nA;1\n", "no 'email' column"),
])
def test_only_whole_file_problems_fail_the_whole_import(ctx, tmp_path, data, message):
    from models.imports import ImportFileError

    with pytest.raises(ImportFileError, match=message):
        run_import(write(tmp_path, data))
