// Drives headless Chromium (Debian's /usr/bin/chromium, never a downloaded
// browser) against a running Coyote's dashboard, for
// crates/coyote/tests/dashboard.rs. A line protocol on stdio keeps the
// test and the page in step; every wait is on page state, bounded.
//
//   node dashboard.mjs <dashboard-url> <screenshot.png>
//   -> pids <a> <b>           the page shows the http pool's two workers
//   <- load <n>               the test has sent n requests and keeps loading
//   -> moved <requests> <rps> <5xx>  the page's counters reached n, rate > 0, 5xx > 0
//   <- shoot                  (load stopped) take the screenshot
//   -> shot                   screenshot written
//   <- killed <pid>           the test SIGKILLed that worker
//   -> replaced <new-pid>     it left the page and a new pid appeared
//   <- reset <token>          click "Reset workers", answer the token prompt
//   -> reset <a> <b>          the page says done and shows two new pids
// Any failure: "error <why>" on stdout, exit status 1.

import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
const WAIT = 20_000;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (line) => process.stdout.write(line + "\n");
const fail = (why) => { say("error " + String(why).replace(/\s+/g, " ")); process.exit(1); };
// The whole run is bounded even if the test stops answering.
setTimeout(() => fail("driver timed out"), 120_000).unref();

async function expect(word) {
  const { value, done } = await lines.next();
  if (done) fail(`stdin closed while waiting for "${word}"`);
  const [got, ...args] = value.trim().split(/\s+/);
  if (got !== word) fail(`expected "${word}", got "${value}"`);
  return args;
}

const pidsOn = (page) => page.$$eval('section[data-pool="http"] tr[data-pid]', (rows) => rows.map((r) => r.dataset.pid));

let browser;
try {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    // Root in a container, no network beyond loopback: without these
    // Chromium waits on blocked services.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 640 } });
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(new URL(url).origin)) external.push(r.url()); });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url, { timeout: WAIT });

  await page.waitForFunction(() => document.querySelectorAll('section[data-pool="http"] tr[data-pid]').length === 2, null, { timeout: WAIT });
  await page.waitForSelector("#conn.live", { timeout: WAIT });
  const before = await pidsOn(page);
  say("pids " + before.join(" "));

  const [sent] = await expect("load");
  await page.waitForFunction((n) => {
    const field = (f) => document.querySelector(`section[data-pool="http"] [data-field="${f}"]`)?.textContent ?? "";
    return Number(field("requests")) >= n && Number(field("rps")) > 0 && Number(field("errors")) > 0;
  }, Number(sent), { timeout: WAIT });
  const field = (f) => page.textContent(`section[data-pool="http"] [data-field="${f}"]`);
  say(`moved ${await field("requests")} ${await field("rps")} ${await field("errors")}`);

  await expect("shoot");
  await page.screenshot({ path: screenshot, fullPage: true });
  say("shot");

  const [killed] = await expect("killed");
  const survivors = before.filter((p) => p !== killed);
  await page.waitForFunction(({ killed, survivors }) => {
    const pids = [...document.querySelectorAll('section[data-pool="http"] tr[data-pid]')].map((r) => r.dataset.pid);
    return !pids.includes(killed) && pids.length === 2 && pids.some((p) => !survivors.includes(p));
  }, { killed, survivors }, { timeout: WAIT });
  const after = await pidsOn(page);
  const fresh = after.filter((p) => !before.includes(p));
  if (fresh.length !== 1) fail(`expected one new pid, page shows ${after.join(",")} (before ${before.join(",")})`);
  if (external.length) fail("the page loaded external assets: " + external.join(" "));
  if (errors.length) fail("page errors: " + errors.join(" | "));
  say("replaced " + fresh[0]);

  const [token] = await expect("reset");
  page.once("dialog", (d) => d.accept(token));
  await page.click('section[data-pool="http"] button[data-action="reset"]', { timeout: WAIT });
  await page.waitForFunction(() => document.getElementById("notice").textContent === "reset: done", null, { timeout: WAIT });
  await page.waitForFunction((old) => {
    const pids = [...document.querySelectorAll('section[data-pool="http"] tr[data-pid]')].map((r) => r.dataset.pid);
    return pids.length === 2 && pids.every((p) => !old.includes(p));
  }, after, { timeout: WAIT });
  const stored = await page.evaluate(() => sessionStorage.getItem("coyote-dashboard-token"));
  if (stored !== token) fail("the token was not kept in sessionStorage");
  say("reset " + (await pidsOn(page)).join(" "));
  await browser.close();
  process.exit(0);
} catch (e) {
  if (browser) await browser.close().catch(() => {});
  fail(e && e.message ? e.message.split("\n")[0] : e);
}
