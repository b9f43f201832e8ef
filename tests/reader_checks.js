// What a reader would see wrong on a book page, checked in the browser (tests/test_browser.py runs these).
// Each check returns [[kind, detail], ...]; `run(names, params, figures)` runs the named ones (params: the
// run's parameters {name: value}, for parameterName; figures: {image file name: height of its smallest text
// in its own pixels}, for figureText) and returns all they found.
// The rules, and why each is drawn where it is:
// - cellsTouch: two neighbouring cells of a table row whose text boxes are less than MIN_GAP px apart
//   (no padding between "0.4131" and "22.9901" reads as "0.413122.9901").
// - pageTooWide: anything that reaches past the viewport's right edge without a scroll box of its own
//   (the whole page then scrolls sideways), or that is cut by an ancestor that hides overflow.
// - hiddenScroll: a box that scrolls sideways with content out of view. Holding a table, it must show a
//   cue: a scrollbar that takes room (not overlay, not `scrollbar-width: none`) and an edge shadow (a
//   gradient background, as the book's xrfnb.css gives every table scroll box). Holding anything else
//   (a menu, a figure) it may not scroll: that content runs past the column. Code and maths may scroll.
// - shrunkImage: an image shown at less than MIN_SCALE of its own width that is not a link (a reader
//   cannot open it to read its text); a proxy for figure text too small to read on a phone.
// - figureText: a figure whose smallest text, at the width the page shows it, is under MIN_TEXT_PX CSS px.
//   The text's height in the image's own pixels comes from the PNG (`plots.save` records it; the test
//   reads it and passes {file name: px}); an image without that record is not judged. 7 px is about the
//   smallest text a phone shows that can be read without zooming in (a figure drawn for the 720 px
//   desktop column with 8-point text shows it at about 5 px on a 390 px phone).
// - rawMarkdown: Markdown markers left in the text (**, *[, a backtick, ](, \*) outside code and math.
// - parameterName: a name printed where its value or a word belongs. Two forms: (1) outside code, a bare
//   identifier joined by underscores whose parts are all two characters or more, starting lowercase
//   (`explore_images`, `srgb_loss`), in a sentence: text inside a p, li, dt, dd, heading or caption,
//   not a table cell (a table's column names and labels are data). A token joined to a path, file name,
//   URL or `=` is no bare name, and math written with subscripts (`K_max`, `p_k`, `s_loss`) has a
//   one-letter part. (2) in code, the name of one of the run's parameters (the execution record's
//   table, passed in) used as a quantity: followed by a word that is not one of LINKING, in a sentence
//   or cell that does not also give its value ("the first `explore_images` test images" instead of
//   "the first 12 test images"). A sentence about the parameter itself ("`uvit_batch_size` and
//   `dve_batch_size` are per GPU") and one giving its value ("5 epochs each, `compare_epochs`") pass.
const MIN_GAP = 4, MIN_SCALE = 0.5, MIN_TEXT_PX = 7;
// Words that may follow a parameter's name when a sentence speaks of the parameter itself ("`seed` and",
// "`uvit_epochs` in the record"); any other word after it reads as a quantity ("`counts` photons").
const LINKING = new Set(['and', 'or', 'nor', 'but', 'is', 'are', 'was', 'were', 'be', 'in', 'of', 'to', 'for',
  'with', 'as', 'at', 'by', 'on', 'from', 'per', 'over', 'into', 'than', 'then', 'so', 'if', 'sets', 'set',
  'gives', 'give', 'controls', 'decides', 'chooses', 'must', 'can', 'may', 'will', 'stays', 'keeps', 'changes',
  'defaults', 'default', 'parameter', 'parameters', 'value', 'values', 'says', 'names', 'counts', 'holds']);
const CODE = 'code, pre, kbd, samp, tt, script, style, noscript, .math, .MathJax, mjx-container, .highlight, textarea';
const PROSE = 'p, li, dt, dd, h1, h2, h3, h4, h5, h6, caption, figcaption';
const article = () => document.querySelector('article') || document.body;
const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
const excerpt = (text, at, before = 30, after = 50) =>
  text.slice(Math.max(0, at - before), at + after).replace(/\s+/g, ' ').trim();

function textNodes(root, skip) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const parent = n.parentElement;
    if (n.nodeValue.trim() && parent && !parent.closest(skip) && shown(parent)) found.push(n);
  }
  return found;
}

function textBox(cell) {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const rects = Array.from(range.getClientRects()).filter(r => r.width > 0 && r.height > 0);
  if (!rects.length) return null;
  return {left: Math.min(...rects.map(r => r.left)), right: Math.max(...rects.map(r => r.right)),
          top: Math.min(...rects.map(r => r.top)), bottom: Math.max(...rects.map(r => r.bottom))};
}

function clipper(el) {
  for (let p = el.parentElement; p && p !== document.body && p !== document.documentElement; p = p.parentElement)
    if (getComputedStyle(p).overflowX !== 'visible') return p;
  return null;
}

const CHECKS = {
  cellsTouch() {
    const found = [];
    for (const row of article().querySelectorAll('tr')) {
      let before = null;
      for (const cell of row.children) {
        const box = textBox(cell);
        if (!box) continue;
        const sameLine = before && box.top < before.box.bottom && before.box.top < box.bottom;
        if (sameLine && box.left - before.box.right < MIN_GAP)
          found.push(['table cells touch', `"${before.text}" | "${cell.innerText.trim().slice(0, 30)}"`]);
        before = {box, text: cell.innerText.trim().slice(0, 30)};
      }
    }
    return found;
  },

  pageTooWide() {
    const width = document.documentElement.clientWidth, found = [];
    const sideways = document.documentElement.scrollWidth > width + 1, culprits = new Set();
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= width + 1 || !shown(el)) continue;
      const box = clipper(el);
      if (!box) { if (sideways) culprits.add(el); continue; }
      const mode = getComputedStyle(box).overflowX, b = box.getBoundingClientRect();
      if ((mode === 'hidden' || mode === 'clip') && r.right > b.right + 1 && b.width > 2)
        found.push(['content cut off', `${el.tagName.toLowerCase()}: ${(el.innerText || '').slice(0, 50)}`]);
    }
    for (const el of culprits) {
      if (culprits.has(el.parentElement)) continue;  // report the outermost only
      found.push(['page wider than the viewport',
                  `${el.tagName.toLowerCase()} reaches ${Math.round(el.getBoundingClientRect().right)} px of ${width}: `
                  + (el.innerText || el.getAttribute('src') || '').slice(0, 50).replace(/\s+/g, ' ')]);
    }
    if (sideways && !culprits.size)
      found.push(['page wider than the viewport', `${document.documentElement.scrollWidth} px of ${width}`]);
    return found;
  },

  hiddenScroll() {
    const found = [];
    for (const box of article().querySelectorAll('*')) {
      const style = getComputedStyle(box);
      if (!['auto', 'scroll'].includes(style.overflowX) || box.scrollWidth <= box.clientWidth + 1) continue;
      if (box.closest('pre, .highlight, mjx-container, .math')) continue;  // code and maths scroll, as they do
      const table = box.matches('table') ? box : box.querySelector('table'), shown = `${box.clientWidth} of ${box.scrollWidth} px shown`;
      if (!table) {
        found.push(['content runs past its box', `${shown}: ${(box.innerText || '').slice(0, 50).replace(/\s+/g, ' ')}`]);
        continue;
      }
      const bar = box.offsetHeight - box.clientHeight - parseFloat(style.borderTopWidth) - parseFloat(style.borderBottomWidth);
      if (bar <= 0 || !style.backgroundImage.includes('gradient'))
        found.push(['table scrolls without a visible cue', `${shown}: ${table.innerText.slice(0, 50).replace(/\s+/g, ' ')}`]);
    }
    return found;
  },

  shrunkImage() {
    const found = [];
    for (const img of article().querySelectorAll('img')) {
      const width = img.getBoundingClientRect().width;
      if (img.naturalWidth && width && width < MIN_SCALE * img.naturalWidth && !img.closest('a[href]'))
        found.push(['image too small to read and not openable',
                    `${img.src.split('/').pop().slice(0, 60)}: ${img.naturalWidth} px shown at ${Math.round(width)} px`]);
    }
    return found;
  },

  figureText(params, figures = {}) {
    const found = [];
    for (const img of article().querySelectorAll('img')) {
      const name = decodeURIComponent(img.src.split('/').pop().split('?')[0]), px = figures[name];
      const width = img.getBoundingClientRect().width;
      if (px === undefined || !img.naturalWidth || !width) continue;
      const shown = px * width / img.naturalWidth;
      if (shown < MIN_TEXT_PX)
        found.push(['figure text below a legible size', `${name}: text ${shown.toFixed(1)} px high as shown `
                    + `(${px} px in its ${img.naturalWidth} px, shown at ${Math.round(width)} px)`]);
    }
    return found;
  },

  rawMarkdown() {
    const found = [];
    for (const node of textNodes(article(), CODE)) {
      const match = /\*\*|\*\[|`|\]\(|\\\*/.exec(node.nodeValue);
      if (match) found.push(['raw Markdown in the text', excerpt(node.nodeValue, match.index)]);
    }
    return found;
  },

  parameterName(params = {}) {
    const found = [], name = /(^|[\s(\[“‘"'])([a-z][a-z0-9]+(?:_[a-z0-9]{2,})+)(?=$|[\s,;:!?)\]”’"']|\.(?:\s|$))/g;
    for (const node of textNodes(article(), CODE + ', td, th')) {
      if (!node.parentElement.closest(PROSE)) continue;
      for (const match of node.nodeValue.matchAll(name))
        found.push(['parameter name in the prose', `${match[2]}: ${excerpt(node.nodeValue, match.index)}`]);
    }
    for (const code of article().querySelectorAll('code')) {
      const key = code.innerText.trim(), block = code.closest(PROSE + ', td, th');
      if (!(key in params) || !block || code.closest('pre, .highlight') || !shown(code)) continue;
      const after = document.createRange();
      after.setStartAfter(code);
      after.setEnd(block, block.childNodes.length);
      const next = (/^\s*([a-z]+)/.exec(after.toString()) || [])[1];
      if (next && !LINKING.has(next) && !block.innerText.includes(params[key]))
        found.push(['parameter name where its value belongs', `${key} (${params[key]}): ${excerpt(block.innerText, block.innerText.indexOf(key))}`]);
    }
    return found;
  },
};

// The run's parameters as {name: value}, read from the execution record's parameter table.
function recordParameters() {
  const params = {};
  for (const row of document.querySelectorAll('section#parameters tr')) {
    const cells = Array.from(row.querySelectorAll('td'));
    if (cells.length === 2 && cells[0].querySelector('code')) params[cells[0].innerText.trim()] = cells[1].innerText.trim().replace(/^'(.*)'$/, '$1');
  }
  return params;
}

function run(names, params, figures) {
  return names.flatMap(name => CHECKS[name](params, figures));
}

// Bytes a reader downloads for the page (the Performance API's body sizes of the page and of everything
// it loaded so far) and the five largest of those files, as {total, largest: [[name, bytes], ...]}.
function pageWeight() {
  const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
  const files = entries.map(e => [e.name.split('?')[0].split('/').slice(-2).join('/'), e.encodedBodySize || 0]);
  files.sort((a, b) => b[1] - a[1]);
  return {total: files.reduce((sum, f) => sum + f[1], 0), count: files.length, largest: files.slice(0, 5)};
}
