"""CSV import of contacts: good rows in, bad rows reported by line, re-import updates."""

import io
import json

import pytest
from sqlalchemy import select

from jobs.runs import enqueue
from models import Company, Contact, JobRun, JobStatus, Role, db
from models.imports import ImportFileError, read_report, run_import
from tests.conftest import csrf_token, make_user, process_env

HEADER = "first_name,last_name,email,company,owner_email,status,email_opt_out,kind,phone,language"

MIXED = "\n".join([
    HEADER,                                                                          # line 1
    "Aino,Virtanen,aino.virtanen@example.fi,Kone Oy,owner@example.com,active,no,contact,+358401,fi",
    "Bertil,Berg,not-an-email,,,active,no,contact,,sv",                              # 3 bad email
    "Csilla,Kovács,csilla@example.hu,Mol Nyrt,nobody@example.com,active,no,lead,,hu",  # 4 owner
    ",Mäkinen,,,,active,no,contact,,fi",                                            # 5 no email
    "Eero,Laine,eero@example.fi,kone oy,,prospect,maybe,contact,,fi",               # 6 boolean
    "Fanny,Ek,fanny@example.se,,,active,yes,lead,,sv",                              # 7 good
    "Gabor," + "N" * 101 + ",gabor@example.hu,,,active,no,contact,,hu",             # 8 too long
    "Helmi,Heino,helmi@example.fi,,,active,0,client,,fi",                           # 9 bad kind
    "Ilkka,Ilola, ILKKA@Example.FI ,Kone Oy,,active,,,,fi",                         # 10 good
    "Jussi,Jokinen,ilkka@example.fi,,,active,no,contact,,fi",                       # 11 dup of 10
    "",                                                                             # 12 blank
    "Kalle,Koski,kalle@example.fi,Uusi Yritys Oy,OWNER@example.com,active,1,contact,,fi",  # 13
]) + "\n"

EXPECTED_REJECTS = {
    3: "email: 'not-an-email' is not a valid address",
    4: "owner_email: no CRM user has the email 'nobody@example.com'",
    5: "email: required, but empty",
    6: "email_opt_out must be yes/no",
    8: "last_name: 101 characters, at most 100 fit",
    9: "kind: must be contact or lead",
    11: "email: ilkka@example.fi is already on line 10 of this file",
}


@pytest.fixture
def owner(ctx):
    return make_user("owner@example.com", Role.USER)


def write(tmp_path, text: str | bytes, name: str = "contacts.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def contacts_by_email() -> dict[str, Contact]:
    return {c.email_key: c for c in db.session.scalars(select(Contact))}


def test_mixed_file_imports_good_rows_and_reports_bad_ones_by_line(ctx, owner, tmp_path):
    result = run_import(write(tmp_path, MIXED))
    assert (result["imported"], result["updated"], result["rejected"]) == (4, 0, 7)
    report = read_report(result["report_path"])
    assert {int(r["line"]): r["reason"] for r in report}.keys() == EXPECTED_REJECTS.keys()
    for row in report:
        assert EXPECTED_REJECTS[int(row["line"])] in row["reason"]
    # The report keeps the rejected rows as they were, so they can be fixed and re-imported.
    assert next(r for r in report if r["line"] == "3")["email"] == "not-an-email"

    contacts = contacts_by_email()
    assert set(contacts) == {"aino.virtanen@example.fi", "fanny@example.se", "ilkka@example.fi",
                             "kalle@example.fi"}
    aino, ilkka, kalle = (contacts[k] for k in ("aino.virtanen@example.fi", "ilkka@example.fi",
                                                 "kalle@example.fi"))
    assert aino.owner_id == owner.id and kalle.owner_id == owner.id  # owner email any case
    assert aino.company.name == "Kone Oy"
    assert ilkka.company_id == aino.company_id  # companies matched by name
    assert ilkka.email == "ILKKA@Example.FI"  # stored trimmed, matched case-insensitively
    assert contacts["fanny@example.se"].kind == "lead"
    assert contacts["fanny@example.se"].email_opt_out is True
    assert ilkka.kind == "contact" and ilkka.email_opt_out is False  # defaults for empty cells
    assert kalle.email_opt_out is True
    assert {c.name for c in db.session.scalars(select(Company))} == {"Kone Oy", "Uusi Yritys Oy"}
    assert result["companies_created"] == 2


def test_reimporting_the_same_file_updates_instead_of_duplicating(ctx, owner, tmp_path):
    path = write(tmp_path, MIXED)
    run_import(path)
    again = run_import(path)
    assert (again["imported"], again["updated"], again["rejected"]) == (0, 4, 7)
    assert db.session.query(Contact).count() == 4
    assert db.session.query(Company).count() == 2


def test_reimport_updates_fields_and_keeps_what_the_file_leaves_empty(ctx, owner, tmp_path):
    run_import(write(tmp_path, MIXED))
    change = HEADER + "\nAino,Virtanen-Koski,AINO.VIRTANEN@EXAMPLE.FI,,,customer,,,,\n"
    result = run_import(write(tmp_path, change, "change.csv"))
    assert (result["imported"], result["updated"]) == (0, 1)
    db.session.expire_all()
    aino = contacts_by_email()["aino.virtanen@example.fi"]
    assert aino.last_name == "Virtanen-Koski"
    assert aino.status == "customer"
    assert aino.phone == "+358401"  # empty cell: kept
    assert aino.company.name == "Kone Oy"  # empty cell: kept


def test_semicolons_and_a_byte_order_mark_are_understood(ctx, tmp_path):
    text = "\ufeffemail;last_name;language\nsemi@example.fi;Puolipiste;fi\n"
    result = run_import(write(tmp_path, text))
    assert (result["imported"], result["rejected"]) == (1, 0)
    assert contacts_by_email()["semi@example.fi"].last_name == "Puolipiste"


def test_bad_encoding_rejects_that_row_only(ctx, tmp_path):
    data = (HEADER + "\n").encode() + "Öljy,Äijälä,oljy@example.fi,,,,,,,fi\n".encode("latin-1")
    data += "Öljy,Äijälä,oljy2@example.fi,,,,,,,fi\n".encode()
    result = run_import(write(tmp_path, data))
    assert (result["imported"], result["rejected"]) == (1, 1)
    (row,) = read_report(result["report_path"])
    assert row["line"] == "2"
    assert "not valid UTF-8" in row["reason"]


def test_quoted_multiline_field_keeps_line_numbers_right(ctx, tmp_path):
    text = 'email,last_name,status\na@example.fi,"Two\nLines",x\nbad,Third,y\n'
    result = run_import(write(tmp_path, text))
    assert (result["imported"], result["rejected"]) == (1, 1)
    assert read_report(result["report_path"])[0]["line"] == "4"


def test_unknown_columns_are_ignored_and_named(ctx, tmp_path):
    result = run_import(write(tmp_path, "email,shoe_size\nx@example.fi,44\n"))
    assert result["imported"] == 1
    assert result["ignored_columns"] == ["shoe_size"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "the file is empty"),
        ("   \n\n", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file"),
        ("name,phone\nAino,123\n", "the header has no 'email' column"),
    ],
)
def test_files_that_cannot_be_imported_are_refused_clearly(ctx, tmp_path, content, message):
    with pytest.raises(ImportFileError, match=message):
        run_import(write(tmp_path, content))


def test_missing_file_is_a_clear_error(ctx, tmp_path):
    with pytest.raises(ImportFileError, match="no such file"):
        run_import(tmp_path / "nope.csv")


def test_import_job_records_counts_and_progress(ctx, owner, tmp_path, run_jobs):
    path = write(tmp_path, MIXED)
    run = enqueue("import_contacts", {"path": str(path), "filename": "contacts.csv"})
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.status == JobStatus.DONE
    assert (run.result["imported"], run.result["rejected"]) == (4, 7)
    assert run.progress_done == run.progress_total == 12  # data lines, blank one included


def test_import_job_with_a_bad_file_fails_with_the_reason(ctx, tmp_path, run_jobs):
    run = enqueue("import_contacts", {"path": str(write(tmp_path, "name\nx\n"))})
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.status == JobStatus.FAILED
    assert run.error.startswith("ImportFileError: contacts.csv: the header has no 'email' column")


def test_upload_page_starts_the_job_and_reports(admin_client, ctx, owner, run_jobs):
    token = csrf_token(admin_client, "/admin/import_contacts/")
    response = admin_client.post(
        "/admin/import_contacts/",
        data={"csrf_token": token, "file": (io.BytesIO(MIXED.encode()), "contacts.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert "/admin/jobrun/details/" in response.headers["Location"]
    run_jobs()
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-result="imported">4<' in page
    assert 'data-result="rejected">7<' in page
    run = db.session.scalars(select(JobRun)).one()
    assert run.user.email == "admin@example.com"
    report = admin_client.get(f"/admin/jobrun/report/{run.id}")
    assert report.status_code == 200
    assert "is not a valid address" in report.get_data(as_text=True)


@pytest.mark.parametrize(
    "content, filename, message",
    [
        (b"%PDF-1.4", "contacts.pdf", "contacts.pdf: only .csv files can be imported"),
        (b"", "empty.csv", "empty.csv: the file is empty"),
    ],
)
def test_upload_page_refuses_what_cannot_be_imported(admin_client, ctx, content, filename,
                                                     message):
    token = csrf_token(admin_client, "/admin/import_contacts/")
    response = admin_client.post(
        "/admin/import_contacts/",
        data={"csrf_token": token, "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.query(JobRun).count() == 0


def test_cli_import_waits_and_prints_the_counts(app, ctx, owner, tmp_path, monkeypatch):
    """`kohde import contacts FILE`: no worker runs, so the CLI starts one for the job."""
    for name, value in process_env(app).items():
        monkeypatch.setenv(name, value)
    result = app.test_cli_runner().invoke(
        args=["import", "contacts", str(write(tmp_path, MIXED))], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "imported 4, updated 0, rejected 7" in result.output
    assert "report: " in result.output


def test_cli_import_json_and_no_wait(app, ctx, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", "contacts", str(write(tmp_path, MIXED)), "--no-wait",
                                 "--json"])
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.output)["id"]
    assert db.session.get(JobRun, run_id).status == JobStatus.QUEUED


def test_cli_import_refuses_a_missing_file(app, ctx, tmp_path):
    result = app.test_cli_runner().invoke(args=["import", "contacts", str(tmp_path / "x.csv")])
    assert result.exit_code != 0
    assert "no such file" in result.output
