import re
from .test_admin_crud import submit, fetch, csrf_token, Campaign, refs  # noqa
from .test_admin_crud import CASES
def test_probe(admin_client, refs):
    case = CASES[2]
    form = case.form(refs)
    submit(admin_client, "/admin/campaign/new/", form)
    row = fetch(Campaign, number="C-77")
    url = f"/admin/campaign/edit/?id={row.id}"
    token = csrf_token(admin_client, url)
    payload = {k: str(v) for k, v in {**form, **case.changes(refs)}.items() if v is not None}
    r = admin_client.post(url, data={**payload, "csrf_token": token})
    html = r.get_data(as_text=True)
    for m in re.finditer(r'(invalid|error|alert)', html):
        print(html[m.start()-200:m.start()+300].replace("\n", " "))
        print('----')
