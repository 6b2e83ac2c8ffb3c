"""One meaning per number: every figure the dashboard shows equals the JSON report it stands for.

A simulated province streams through ``tthc up`` (registry → broker → processing →
reporting) with ``TTHC_REPORTING_REQUIRE_TOKEN=true``; headless Chromium logs in through the
login page and reads every number (``[data-k]``) on the overview, every agency page and every
procedure page; each is parsed back from its Vietnamese form (1.234; 84,2 %; 2,46) and
compared with the JSON API of the same period and agency: Biểu 06, the Decision 766
indicators, the QMS status and the nonconformity register. Procedure rows, which no JSON
report has, must sum to the agency's own Biểu 06 row, and each procedure page must repeat
its agency page's row.
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from services.simulator.simulate import Options, simulate
from shared.settings import CommonSettings
from tests.e2e.system import RunningSystem
from tests.e2e.test_dashboard import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, RAW_766, VISIBLE_CODE

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "tthc_e2e-dashboard-consistency-admin-0123456789"
DOSSIERS = 400


def parse(text: str) -> float | int | None:
    """A Vietnamese number back to its value: ``1.234`` → 1234, ``84,2 %`` → 0.842, ``–`` → None."""
    text = text.strip()
    if text in ("–", "—", ""):
        return None
    percent = text.endswith("%")
    digits = text.rstrip(" %").replace(".", "").replace(",", ".")
    if percent:
        return float(Decimal(digits) / 100)
    return float(digits) if "." in digits else int(digits)


def same(shown: float | int | None, reported: float | int | None, *, rate: bool = False) -> bool:
    """Equal as shown: a rate to one decimal of a percentage, a decimal to two places (half up, as the forms)."""
    if shown is None or reported is None:
        return shown is None and reported is None
    value = Decimal(str(reported)) * (100 if rate else 1)
    rounded = value.quantize(Decimal("0.1") if rate else Decimal("0.01"), rounding=ROUND_HALF_UP)
    return Decimal(str(shown)) * (100 if rate else 1) == rounded


class Api:
    def __init__(self, base: str, period: str) -> None:
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        )
        self.period = period

        self.cache: dict[tuple[str, str | None], dict[str, Any]] = {}

    def get(self, report: str, agency: str | None = None, *, fresh: bool = False) -> dict[str, Any]:
        """A JSON report; asked once per (report, agency) while the pages are read (the data is settled)."""
        if fresh or (report, agency) not in self.cache:
            params = {"period": self.period} | ({"agency": agency} if agency else {})
            r = self.client.get(f"/api/v1/reports/{report}", params=params)
            r.raise_for_status()
            self.cache[(report, agency)] = r.json()
        return self.cache[(report, agency)]


def expected_kpis(api: Api, agency: str | None) -> dict[str, tuple[Any, bool]]:
    """What the headline numbers must be, from the JSON reports: key → (value, is a rate)."""
    form = api.get("form06", agency)["totals"]
    ind = api.get("indicators", agency)["totals"]
    qms = api.get("qms-status", agency)
    ncs = api.get("nonconformities", agency)["by_status"]
    return {
        "kpi.received": (ind["received"], False),
        "kpi.received_total": (form["received_total"], False),
        "kpi.resolved": (ind["resolved"], False),
        "kpi.on_time_rate": (ind["on_time_rate"], True),
        "kpi.on_time_rate_index": (ind["on_time_rate_index"], True),
        "kpi.online_rate": (ind["online_rate"], True),
        "kpi.avg_days": (ind["average_processing_working_days"], False),
        "kpi.pending_total": (form["pending_total"], False),
        "kpi.pending_overdue": (form["pending_overdue"], False),
        "kpi.open_ncs": (sum(n for s, n in ncs.items() if s != "closed"), False),
        "kpi.qms_announced": (qms["announced"], False),
        "kpi.qms_total": (qms["agencies_total"], False),
    }


def expected_row(api: Api, agency: str) -> dict[str, tuple[Any, bool]]:
    """A tree row: the agency's subtree, as the API reports it for ``agency=<code>``."""
    form = api.get("form06", agency)["totals"]
    ind = api.get("indicators", agency)["totals"]
    keys = [k for k in form if k not in ("received_online", "received_offline")]
    return {
        **{f"row.{agency}.{k}": (form[k], False) for k in keys},
        f"row.{agency}.on_time_rate": (ind["on_time_rate"], True),
    }


async def numbers(page: Any) -> dict[str, str]:
    """Every figure on the page: its key and its visible text."""
    pairs = await page.locator("[data-k]").evaluate_all("els => els.map(e => [e.dataset.k, e.textContent])")
    return dict(pairs)


def mismatches(shown: dict[str, str], expected: dict[str, tuple[Any, bool]]) -> list[str]:
    out = []
    for key, (value, rate) in expected.items():
        if key not in shown:
            if value:  # a tree row is left out only when it has nothing to show
                out.append(f"{key}: missing, the API says {value}")
            continue
        if not same(parse(shown[key]), value, rate=rate):
            out.append(f"{key}: page {shown[key]!r}, API {value}")
    return out


async def settle(base: str, period: str) -> None:
    """Wait until reporting stops moving (two equal Biểu 06 totals 2 s apart)."""
    api = Api(base, period)
    last = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        now = await asyncio.to_thread(lambda: api.get("form06", fresh=True))
        if now["totals"]["received_total"] and now["totals"] == last:
            return
        last = now["totals"]
        await asyncio.sleep(2)
    raise AssertionError("reporting kept moving for 90 s")


needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is missing: run `make browser`"
)


@pytest.fixture(scope="module")
def province() -> Iterator[tuple[RunningSystem, str]]:
    """``tthc up`` with tokens required, and a simulated province streamed through it."""
    # a directory of our own: pytest prunes old basetemps, and other pytest runs share /tmp
    workdir = Path(tempfile.mkdtemp(prefix="tthc-dashboard-", dir="/tmp"))
    system = RunningSystem(
        workdir / "data",
        extra_env={"TTHC_ADMIN_TOKEN": ADMIN_TOKEN, "TTHC_REPORTING_REQUIRE_TOKEN": "true"},
    )
    try:
        system.wait_for(r"all services healthy", 90)
        settings = CommonSettings(kafka_bootstrap_servers=system.bootstrap_servers)
        options = Options(dossiers=DOSSIERS, seed=766, violation_rate=0.4, progress=False)
        summary = asyncio.run(simulate(settings, options, system.url("registry"), ADMIN_TOKEN))
        period = str(summary.reference.year)
        asyncio.run(settle(system.url("reporting"), period))
        yield system, period
    finally:
        system.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@needs_chromium
def test_every_number_on_every_page_equals_the_json_reports(province: tuple[RunningSystem, str]) -> None:
    system, period = province
    asyncio.run(compare(system.url("reporting"), period))


async def compare(base: str, period: str) -> None:
    from playwright.async_api import async_playwright

    api = Api(base, period)
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(f"{base}/dashboard?period={period}")
            await page.click("#login-form summary")  # the token: the second way in
            await page.fill("#token", ADMIN_TOKEN)  # the login page, as an officer would
            await page.click("#login-submit")
            await page.wait_for_selector("#agency-tree")

            # the overview: headline numbers and every node of the agency tree
            shown = await numbers(page)
            agencies = sorted({k[4 : k.rindex(".")] for k in shown if k.startswith("row.")})
            assert len(agencies) >= 10, agencies
            expected = expected_kpis(api, None)
            for code in agencies:
                expected |= expected_row(api, code)
            bad = mismatches(shown, expected)
            assert not bad, "overview:\n" + "\n".join(bad)
            checked = len(expected)

            # every agency page: its subtree's numbers, its tree, its own procedures
            procedures: dict[str, list[str]] = {}
            for code in agencies:
                await page.goto(
                    f"{base}/dashboard/agency/{code}?period={period}&size=500"
                )  # every row on one page
                shown = await numbers(page)
                expected = expected_kpis(api, code)
                for sub in {k[4 : k.rindex(".")] for k in shown if k.startswith("row.")}:
                    expected |= expected_row(api, sub)
                bad = mismatches(shown, expected)
                checked += len(expected)
                # procedure rows sum to the agency's own Biểu 06 row (its dossiers, not its subtree's)
                own = next((r for r in api.get("form06", code)["rows"] if r["agency_code"] == code), None)
                sums: dict[str, float] = defaultdict(float)
                codes = sorted({k[5 : k.rindex(".")] for k in shown if k.startswith("proc.")})
                for pc in codes:
                    for key in (
                        "received",
                        "resolved_early",
                        "resolved_on_time",
                        "resolved_late",
                        "pending_total",
                        "pending_within",
                        "pending_overdue",
                        "resolved_total",
                    ):
                        sums[key] += parse(shown[f"proc.{pc}.{key}"]) or 0
                want = {
                    "received": own["received_total"] - own["carried_over"] if own else 0,
                    **{
                        k: own[k] if own else 0
                        for k in (
                            "resolved_early",
                            "resolved_on_time",
                            "resolved_late",
                            "pending_total",
                            "pending_within",
                            "pending_overdue",
                            "resolved_total",
                        )
                    },
                }
                bad += [
                    f"Σ procedures {k}: page {sums[k]}, Biểu 06 own row {v}"
                    for k, v in want.items()
                    if sums[k] != v
                ]
                checked += len(want)
                assert not bad, f"agency {code}:\n" + "\n".join(bad)
                procedures[code] = codes
                if code == agencies[0]:
                    await page.screenshot(path=str(ARTIFACTS / "consistency-agency.png"), full_page=True)

            # every procedure page repeats its row of the agency page
            for code, codes in procedures.items():
                await page.goto(
                    f"{base}/dashboard/agency/{code}?period={period}&size=500"
                )  # every row on one page
                on_agency = await numbers(page)
                for pc in codes:
                    await page.goto(f"{base}/dashboard/agency/{code}/procedure/{pc}?period={period}")
                    shown = await numbers(page)
                    row = {k: v for k, v in on_agency.items() if k.startswith(f"proc.{pc}.")}
                    assert shown == row, f"procedure {pc} of {code}: page {shown}, agency page {row}"
                    checked += len(row)
            print(
                f"{checked} figures on {1 + len(agencies) + sum(map(len, procedures.values()))} pages equal the API"
            )
        finally:
            await browser.close()


@needs_chromium
def test_the_766_score_page_equals_the_json_report(province: tuple[RunningSystem, str]) -> None:
    """Every number of "Điểm Bộ chỉ số QĐ 766" is the index766 JSON report's, on a province whose
    events carry fees, digitisation and ratings; the Vietnamese page shows no code."""
    system, period = province
    asyncio.run(compare_766(system.url("reporting"), period))


def expected_766(doc: dict[str, Any]) -> dict[str, tuple[Any, bool]]:
    """key → (points or rank, False) from the JSON report; ``None`` for a group with no measured indicator."""

    def item(prefix: str, x: dict[str, Any]) -> dict[str, tuple[Any, bool]]:
        out: dict[str, tuple[Any, bool]] = {f"{prefix}.total_points": (x["total_points"], False)}
        for g in x["groups"]:
            measured = any(i["measured"] for i in g["indicators"])
            out[f"{prefix}.g.{g['code']}"] = (g["points"] if measured else None, False)
        return out

    want = item("i766.total", doc["totals"])
    for lv in doc["levels"]:
        want |= item(f"i766.level.{lv['level']}", lv)
        want[f"i766.level.{lv['level']}.agencies"] = (lv["agencies"], False)
    for r in doc["rows"]:
        want |= item(f"i766.row.{r['agency_code']}", r)
        want[f"i766.row.{r['agency_code']}.rank"] = (r["rank"], False)
        want[f"i766.row.{r['agency_code']}.ranked_among"] = (r["ranked_among"], False)
    return want


async def compare_766(base: str, period: str) -> None:
    from playwright.async_api import async_playwright

    doc = Api(base, period).get("index766")
    expected = expected_766(doc)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(f"{base}/dashboard/index766?period={period}&lang=vi")
            await page.click("#login-form summary")  # the token: the second way in
            await page.fill("#token", ADMIN_TOKEN)
            await page.click("#login-submit")
            await page.wait_for_selector("#index766-agencies")
            shown = await numbers(page)
            missing = {k for k, v in shown.items() if v == "chưa có số liệu"}
            assert {k for k, (v, _) in expected.items() if v is None} == missing
            bad = mismatches({k: v for k, v in shown.items() if k not in missing}, expected)
            bad += [f"{k}: on the page, not in the report" for k in shown.keys() - expected.keys()]
            assert not bad, "index766 page:\n" + "\n".join(bad)
            # the simulated events measure every group but the imported disclosure figures
            measured = {k.rsplit(".", 1)[1] for k, (v, _) in expected.items() if ".g." in k and v is not None}
            assert {"tien_do", "truc_tuyen", "hai_long", "so_hoa"} <= measured, measured
            assert len(doc["rows"]) >= 10
            text = await page.inner_text("body")
            assert not VISIBLE_CODE.findall(text) and not RAW_766.findall(text)
            await page.screenshot(path=str(ARTIFACTS / "dashboard-index766.png"), full_page=True)
            print(f"{len(expected)} figures of the 766 page equal the API")
        finally:
            await browser.close()


@needs_chromium
def test_corrective_action_walk_through(province: tuple[RunningSystem, str]) -> None:
    """Open findings of one cause → one corrective action → grouped → verified → closed, audited."""
    system, _ = province
    asyncio.run(walk_through(system.url("reporting"), system.url("processing")))


async def walk_through(base: str, processing: str) -> None:
    from playwright.async_api import async_playwright

    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=processing, headers=auth, timeout=30) as api:
        found = (await api.get("/api/v1/nonconformities", params={"status": "open", "limit": 1000})).json()[
            "items"
        ]
    by_cause: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for n in found:
        by_cause[(n["agency_code"], n["code"])].append(n)
    (agency, code), ncs = max(by_cause.items(), key=lambda kv: len(kv[1]))
    assert len(ncs) >= 3, by_cause
    keys = [f"{n['dossier_code']}|{n['nc_key']}" for n in ncs[:3]]

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1300, "height": 1000})
            await page.goto(f"{base}/dashboard/actions?agency={agency}&code={code}")
            await page.click("#login-form summary")  # the token: the second way in
            await page.fill("#token", ADMIN_TOKEN)
            await page.click("#login-submit")
            await page.wait_for_selector("#new-action")
            user = await page.inner_text("#user")
            # the open findings are paged: two a page here, the next page's link keeps the filters
            await page.goto(f"{base}/dashboard/actions?agency={agency}&code={code}&size=2")
            pager = await page.inner_text("#open-ncs-pager")
            found_total = int(re.search(r"Tổng số ([\d.]+)", pager).group(1).replace(".", ""))  # type: ignore[union-attr]
            assert f"Trang 1/{math.ceil(found_total / 2)}" in pager and found_total >= 3, pager
            assert await page.locator("#open-ncs tbody tr").count() == 2
            href = await page.get_attribute("#open-ncs-pager a[rel=next]", "href") or ""
            kept = parse_qs(href.lstrip("?"))
            assert kept["agency"] == [agency] and kept["code"] == [code], href
            assert kept["size"] == ["2"] and kept["nc_page"] == ["2"], href
            await page.goto(f"{base}/dashboard/actions?agency={agency}&code={code}")
            for key in keys[:2]:
                await page.check(f"input[name=nc][value='{key}']")
            await page.fill("textarea[name=correction]", "Đã trả kết quả và gửi phiếu xin lỗi cho công dân")
            await page.fill("textarea[name=root_cause]", "Bộ phận thẩm định thiếu người trong tháng cao điểm")
            await page.fill("textarea[name=action]", "Bổ sung một chuyên viên thẩm định")
            await page.fill("input[name=responsible]", "Trưởng phòng chuyên môn")
            await page.fill("input[name=due_date]", "2099-12-31")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-actions.png"), full_page=True)
            await page.click("#create-action")
            await page.wait_for_selector("#action-state")
            assert await page.inner_text("#action-state") == "Đang thực hiện"
            assert (await page.locator("#action-ncs tbody tr").count()) == 2
            assert "Đang khắc phục" in await page.inner_text("#action-ncs")
            action_url = page.url.split("?")[0]

            await page.check(f"#candidates input[value='{keys[2]}']")  # a third finding of the same cause
            await page.click("#group")
            await page.wait_for_selector("#action-ncs")
            assert (await page.locator("#action-ncs tbody tr").count()) == 3

            await page.check("input[name=effective][value=no]")
            await page.fill("#verify-form textarea[name=note]", "Vẫn còn hồ sơ trễ ở bước thẩm định")
            await page.fill("#verify-form textarea[name=action]", "Chia lại việc thẩm định theo lĩnh vực")
            await page.fill("#verify-form input[name=due_date]", "2099-12-31")
            await page.click("#verify")
            await page.wait_for_selector("#verify-form")  # still planned, with the revised action
            assert "Chia lại việc thẩm định" in await page.inner_text("#action-facts")

            await page.fill("#verify-form textarea[name=note]", "Bốn tuần liền không còn hồ sơ trễ")
            await page.click("#verify")
            await page.wait_for_selector("#close-form")
            assert await page.inner_text("#action-state") == "Đã kiểm tra hiệu lực"
            await page.click("#close")
            await page.wait_for_selector("#audit")
            assert await page.inner_text("#action-state") == "Đã đóng"
            assert (await page.locator("#action-ncs td:text('Đã đóng')").count()) == 3
            audit = await page.locator("#audit tbody tr").evaluate_all(
                "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))"
            )
            assert [r[2] for r in audit] == [
                "Lập hành động khắc phục",
                "Gộp thêm sự không phù hợp",
                "Kiểm tra: chưa có hiệu lực, sửa đổi hành động",
                "Kiểm tra: có hiệu lực",
                "Đóng",
            ]
            assert {r[1] for r in audit} == {user.strip()}
            await page.screenshot(path=str(ARTIFACTS / "dashboard-action.png"), full_page=True)
            await page.set_viewport_size({"width": 390, "height": 844})
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the action page is {width} px wide on a phone"
            await page.screenshot(path=str(ARTIFACTS / "dashboard-action-phone.png"), full_page=True)
            await page.set_viewport_size({"width": 1300, "height": 1000})
            await page.goto(f"{base}/dashboard")
            assert await page.inner_text("#overdue-actions") == "0"  # due in 2099: none overdue

            # the register of reporting follows through the compliance topic
            closed = {n["dossier_code"] for n in ncs[:3]}
            async with httpx.AsyncClient(base_url=base, headers=auth, timeout=30) as reporting:
                deadline = time.monotonic() + 20
                while True:
                    items = (
                        await reporting.get(
                            "/api/v1/reports/nonconformities",
                            params={
                                "period": str(ncs[0]["detected_at"])[:4],
                                "status": "closed",
                                "limit": 1000,
                            },
                        )
                    ).json()["items"]
                    if closed <= {i["dossier_code"] for i in items}:
                        break
                    assert time.monotonic() < deadline, "reporting's register did not follow the closing"
                    await asyncio.sleep(0.5)
            # a form without its CSRF field is refused, and changes nothing
            refused = await page.request.post(f"{action_url}/close", form={"csrf": ""}, max_redirects=0)
            assert refused.status == 403
        finally:
            await browser.close()
