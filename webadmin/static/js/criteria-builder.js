/* The criteria builder's only script: it reads the rows and groups on the page back into
   the JSON tree in the hidden "criteria" input, tells htmx the tree changed (for the
   live count and preview), and marks the rows the server found problems in. The rows
   themselves come from the server (templates/kohde/criteria/_macros.html). */
(function () {
  'use strict';
  if (window.kohdeCriteriaBuilder) { return; }  // the form may render the script twice

  function text(row, name) {
    const input = row.querySelector('[name="' + name + '"]');
    return input ? input.value : '';
  }

  // A whole number when the text is one; otherwise the text itself, so the server's
  // message says what was typed ("expected a whole number, got '1,5'").
  function number(value) {
    const t = value.trim();
    if (t === '') { return null; }
    return /^-?\d+$/.test(t) ? parseInt(t, 10) : t;
  }

  function commaList(value) {
    return value.split(',').map(function (s) { return s.trim(); }).filter(function (s) { return s !== ''; });
  }

  function picked(row) {
    return Array.from(row.querySelectorAll('[name="cb_v"]')).flatMap(function (input) {
      if (input.tagName === 'SELECT') {
        return Array.from(input.selectedOptions).map(function (o) { return o.value; });
      }
      return input.checked ? [input.value] : [];
    });
  }

  function readValue(row, widget) {
    const v = text(row, 'cb_v');
    switch (widget) {
      case 'text': case 'date': case 'choice': return v;
      case 'int': case 'days': case 'ref': return number(v);
      case 'bool': return v === 'true';
      case 'texts': return commaList(v);
      case 'ints': return commaList(v).map(number);
      case 'choices': return picked(row);
      case 'refs': return picked(row).map(number);
      case 'int-range': return [number(v), number(text(row, 'cb_v2'))];
      case 'date-range': return [v, text(row, 'cb_v2')];
      case 'activity': {
        const value = {};
        const type = text(row, 'cb_atype');
        const period = text(row, 'cb_period');
        if (type) { value.type = type; }
        if (period) { value[period] = number(text(row, 'cb_days')); }
        return value;
      }
    }
    return undefined;  // "none": is_empty / is_not_empty take no value
  }

  function readRow(row) {
    const widget = row.dataset.widget;
    if (widget === 'raw') { return JSON.parse(row.dataset.raw); }
    const node = {field: text(row, 'cb_field'), op: text(row, 'cb_op')};
    const value = readValue(row, widget);
    if (value !== undefined) { node.value = value; }
    return node;
  }

  // Paths match the server's messages: all[1].not.any[0] …
  function readGroup(group, path) {
    const head = group.querySelector(':scope > .cb-head');
    const mode = head.querySelector('[name="cb_mode"]').value;
    const negated = head.querySelector('[name="cb_not"]').checked;
    const base = (path ? path + '.' : '') + (negated ? 'not.' : '') + mode;
    group.dataset.path = path || '(root)';
    const children = Array.from(group.querySelector(':scope > .cb-children').children)
      .filter(function (child) { return child.matches('.cb-row, .cb-group'); })
      .map(function (child, i) {
        const childPath = base + '[' + i + ']';
        if (child.matches('.cb-group')) { return readGroup(child, childPath); }
        child.dataset.path = childPath;
        return readRow(child);
      });
    const node = {};
    node[mode] = children;
    return negated ? {not: node} : node;
  }

  function write(builder) {
    const tree = readGroup(builder.querySelector('.cb-root-group'), '');
    builder.querySelector('input.cb-tree').value = JSON.stringify(tree);
  }

  function changed(builder) {
    write(builder);
    builder.dispatchEvent(new CustomEvent('cb-change'));  // htmx: count and preview
  }

  function markProblems(builder) {
    const paths = Array.from(builder.querySelectorAll('.cb-count [data-error-path]'))
      .map(function (li) { return li.dataset.errorPath; });
    builder.querySelectorAll('.cb-row').forEach(function (row) {
      const p = row.dataset.path;
      const bad = p && paths.some(function (e) { return e === p || e.startsWith(p + '.'); });
      row.classList.toggle('cb-invalid', Boolean(bad));
    });
  }

  function builderOf(el) {
    return el && el.closest ? el.closest('.criteria-builder') : null;
  }

  // Field and operator selects re-render their row through htmx: wait for the new row.
  function rerenders(el) { return el.matches('[name="cb_field"], [name="cb_op"]'); }

  // The user typed or picked a value: from now on empty values are problems to show.
  function touched(builder) {
    const flag = builder.querySelector('input.cb-touched');
    if (flag) { flag.value = '1'; }
  }

  document.addEventListener('input', function (evt) {
    const builder = builderOf(evt.target);
    if (builder && !rerenders(evt.target)) { touched(builder); changed(builder); }
  });
  document.addEventListener('change', function (evt) {
    const builder = builderOf(evt.target);
    if (builder && !rerenders(evt.target)) { touched(builder); changed(builder); }
  });
  document.addEventListener('click', function (evt) {
    const remove = evt.target.closest('[data-cb-remove]');
    const builder = builderOf(remove);
    if (!builder) { return; }
    remove.closest('.cb-row, .cb-group').remove();
    changed(builder);
  });
  // Enter in a value box would save the whole form half-way through editing a condition.
  document.addEventListener('keydown', function (evt) {
    if (evt.key === 'Enter' && evt.target.tagName === 'INPUT' && builderOf(evt.target)) {
      evt.preventDefault();
    }
  });
  // A row or group htmx just added or re-rendered: the tree changed.
  document.addEventListener('htmx:load', function (evt) {
    const el = evt.target;
    if (el.matches && el.matches('.cb-row, .cb-group')) {
      const builder = builderOf(el);
      if (builder) { changed(builder); }
    }
  });
  // A 400 with the tree's problems is swapped in like any answer: the layout's
  // htmx.config.responseHandling shows 4xx partials.
  document.addEventListener('htmx:afterSwap', function (evt) {
    const builder = builderOf(evt.detail.target);
    if (builder && evt.detail.target.matches('.cb-count')) {
      readGroup(builder.querySelector('.cb-root-group'), '');  // puts the paths on the rows
      markProblems(builder);
    }
  });
  // Whatever happened last, the form saves the tree the page shows.
  document.addEventListener('submit', function (evt) {
    evt.target.querySelectorAll('.criteria-builder').forEach(write);
  });
  window.kohdeCriteriaBuilder = {write: write};
}());
