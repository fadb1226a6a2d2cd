// Loads a rangeserve folder listing in headless Chromium, checks what a
// person sees, clicks into a subfolder, and saves a screenshot.
// Usage: node listing.mjs <base-url> <screenshot.png>   (playwright-core installed)
import { chromium } from 'playwright-core';

const [base, shot] = process.argv.slice(2);
const failures = [];
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures.push(what); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-quic'],
});
try {
  const page = await browser.newPage({ viewport: { width: 820, height: 330 } });
  const response = await page.goto(`${base}/`);
  check(response.status() === 200, 'the root listing is 200');
  check((await page.title()) === 'Index of /', `title is "Index of /" (got "${await page.title()}")`);
  const names = await page.locator('td.name a').allInnerTexts();
  check(names.includes('<b>&"\'.txt'), 'a name with <b>&"\' is shown as text, not markup');
  check(await page.locator('b').count() === 0, 'no <b> element was injected');
  check(names[0] === 'photos 2026/', `folders come first (first is "${names[0]}")`);
  const size = await page.locator('tr.file', { hasText: 'big-dataset.bin' }).locator('td.size');
  check((await size.getAttribute('title')) === '3145728 bytes', 'exact bytes on hover');
  check((await size.innerText()) === '3.0 MiB', 'human size');
  check(await page.locator('tr.file td.date').first().isVisible(), 'dates shown on a wide screen');
  await page.screenshot({ path: shot, fullPage: true });

  await page.setViewportSize({ width: 390, height: 640 });
  check(!(await page.locator('tr.file td.date').first().isVisible()), 'dates hidden on a phone');
  const overflow = await page.evaluate(() => document.scrollingElement.scrollWidth);
  check(overflow <= 390, `no sideways scrolling on a phone (${overflow}px wide)`);

  await page.click('text=photos 2026/');
  await page.waitForURL('**/photos%202026/');
  check(page.url().endsWith('/photos%202026/'), `clicking a folder opens it (${page.url()})`);
  check((await page.title()) === 'Index of /photos 2026/', 'the subfolder listing is shown');
  const inner = await page.locator('td.name a').allInnerTexts();
  check(inner.includes('été.jpg') && inner.includes('../'), 'UTF-8 names and the parent link');
  await page.click('text=été.jpg');
  check(page.url().endsWith('/photos%202026/%C3%A9t%C3%A9.jpg'), 'the file link is percent-encoded');
} finally {
  await browser.close();
}
console.log(`${failures.length === 0 ? 1 : 0} passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
