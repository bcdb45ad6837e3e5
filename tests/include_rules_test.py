#!/usr/bin/env python3
"""Checks coffre's include rules (docs/include-rules.txt, docs/architecture.md).

Every `#include "X/..."` in src/M/ must name M itself or a module M may include;
no module includes another's internal/ headers. Exceptions and known
violations are listed, by file, in the rules file; a known violation that no
longer occurs fails the test too, so the list only shrinks. The table quoted
in docs/architecture.md must be the rules file's.

  include_rules_test.py [--root DIR]   check the tree at DIR (default: this repo)
  include_rules_test.py --self-test    prove the check fails on a new violation

Exit 0 when the rules hold, 1 with one line per finding otherwise.
"""
import argparse
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_]+)/([^"]*)"', re.M)
SOURCE_ENDINGS = ('.h', '.cc', '.cc.in')
TEST_FILE = re.compile(r'(_test|_fuzz)\.cc$|/store_conformance\.(h|cc)$')
QUOTE_BEGIN = '<!-- include-rules:begin -->'
QUOTE_END = '<!-- include-rules:end -->'


class Rules:
    def __init__(self):
        self.allowed = {}      # module -> set of modules
        self.table = []        # the [modules] lines, as written
        self.test_extra = set()
        self.exceptions = {}   # (file, target) -> line number
        self.known = {}        # (file, target) -> line number


def parse_rules(path):
    rules = Rules()
    section = None
    problems = []
    with open(path, encoding='utf-8') as f:
        for n, raw in enumerate(f, 1):
            line = raw.split('#', 1)[0].strip()
            if not line:
                continue
            if line.startswith('[') and line.endswith(']'):
                section = line[1:-1]
                continue
            if section == 'modules':
                module, _, deps = line.partition(':')
                rules.allowed[module.strip()] = set(deps.split())
                rules.table.append(' '.join(raw.rstrip('\n').split('#', 1)[0].split()))
            elif section == 'tests':
                rules.test_extra.update(line.split())
            elif section in ('exceptions', 'known-violations'):
                file, _, target = line.partition(':')
                key = (file.strip(), target.strip())
                if not key[0] or not key[1]:
                    problems.append(f'{path}:{n}: expected `file: module`')
                (rules.exceptions if section == 'exceptions' else rules.known)[key] = n
            else:
                problems.append(f'{path}:{n}: outside a known section: {line}')
    for module, deps in rules.allowed.items():
        for d in deps - set(rules.allowed):
            problems.append(f'{path}: {module} may include {d}, which is no module of the table')
    return rules, problems


def includes_of(root):
    """(file relative to root, module of the file, included module, included path)."""
    src = os.path.join(root, 'src')
    for module in sorted(os.listdir(src)):
        base = os.path.join(src, module)
        if not os.path.isdir(base):
            continue
        for dirpath, _, files in os.walk(base):
            for name in sorted(files):
                if not name.endswith(SOURCE_ENDINGS):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, '/')
                with open(path, encoding='utf-8', errors='replace') as f:
                    text = f.read()
                for m in INCLUDE.finditer(text):
                    yield rel, module, m.group(1), m.group(2)


def check(root, rules_path, page_path):
    rules, findings = parse_rules(rules_path)
    modules = set(os.listdir(os.path.join(root, 'src')))
    used = set()
    for rel, module, target, rest in includes_of(root):
        if target not in modules and target != 'tests':
            continue  # not a coffre module: a header of the build tree or a library
        if module not in rules.allowed:
            findings.append(f'{rel}: module {module} has no line in {rules_path}')
            continue
        internal = rest.startswith('internal/')
        if target == module:
            continue
        if internal:
            key = (rel, target + '/internal')
            if key in rules.exceptions or key in rules.known:
                used.add(key)
            else:
                findings.append(f'{rel}: includes "{target}/{rest}", an internal header of {target}')
            continue
        ok = target in rules.allowed[module]
        if not ok and TEST_FILE.search(rel):
            ok = target in rules.test_extra
        if ok:
            continue
        key = (rel, target)
        if key in rules.exceptions or key in rules.known:
            used.add(key)
            continue
        findings.append(f'{rel}: {module} may not include {target} ("{target}/{rest}"); '
                        f'allowed: {" ".join(sorted(rules.allowed[module])) or "nothing"}')
    for kind, entries in (('exception', rules.exceptions), ('known violation', rules.known)):
        for key, n in sorted(entries.items(), key=lambda kv: kv[1]):
            if key not in used:
                findings.append(f'{rules_path}:{n}: {kind} `{key[0]}: {key[1]}` no longer occurs: '
                                f'remove the line')
    if page_path is not None:
        findings += check_quote(rules, page_path)
    return findings


def check_quote(rules, page_path):
    if not os.path.exists(page_path):
        return [f'{page_path}: missing (it quotes the include rules)']
    with open(page_path, encoding='utf-8') as f:
        page = f.read()
    if QUOTE_BEGIN not in page or QUOTE_END not in page:
        return [f'{page_path}: no quoted table between {QUOTE_BEGIN} and {QUOTE_END}']
    block = page.split(QUOTE_BEGIN, 1)[1].split(QUOTE_END, 1)[0]
    quoted = [' '.join(l.split()) for l in block.splitlines()
              if l.strip() and not l.strip().startswith('```')]
    if quoted != rules.table:
        return [f'{page_path}: the quoted table differs from the rules file\'s [modules] '
                f'(copy it again)']
    return []


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def self_test():
    """A temp tree: the check passes on it, then fails on each kind of violation."""
    rules_text = ('[modules]\ncommon:\nvault: common\ncards: common vault\napp: common vault cards\n'
                  '[tests]\ntests\n'
                  '[exceptions]\nsrc/app/x_test.cc: cards/internal  # a reason\n'
                  '[known-violations]\nsrc/vault/vault.cc: cards  # being fixed\n')
    page_text = ('# map\n' + QUOTE_BEGIN + '\n```\ncommon:\nvault:  common\ncards: common vault\n'
                 'app: common vault cards\n```\n' + QUOTE_END + '\n')
    base_files = {
        'src/common/status.h': '#pragma once\n#include <string>\n',
        'src/vault/vault.cc': '#include "vault/vault.h"\n#include "common/status.h"\n#include "cards/cards.h"\n',
        'src/vault/vault.h': '#include "common/status.h"\n#include "vault/internal/layout.h"\n',
        'src/cards/cards.cc': '#include "vault/vault.h"\n',
        'src/cards/cards_test.cc': '#include "tests/vectors/cards.h"\n',
        'src/app/x_test.cc': '#include "cards/internal/seed.h"\n#include "openapi_json.h"\n',
    }
    cases = [
        ('a clean tree passes', {}, None, 0),
        ('a module includes one above it', {'src/vault/store.cc': '#include "app/runtime.h"\n'},
         'vault may not include app', 1),
        ('a lower module includes a peer not allowed', {'src/common/bad.h': '  #  include "vault/vault.h"\n'},
         'common may not include vault', 1),
        ('a production file includes tests/', {'src/cards/cards.h': '#include "tests/vectors/cards.h"\n'},
         'cards may not include tests', 1),
        ('another module\'s internal header', {'src/cards/c.cc': '#include "vault/internal/layout.h"\n'},
         'an internal header of vault', 1),
        ('a fixed known violation must leave the list',
         {'src/vault/vault.cc': '#include "vault/vault.h"\n'}, 'no longer occurs', 1),
        ('a module missing from the table', {'src/cli/main.cc': '#include "app/app.h"\n'},
         'module cli has no line', 1),
    ]
    failures = 0
    for name, extra, expect, want_findings in cases:
        with tempfile.TemporaryDirectory(prefix='coffre-include-rules-') as root:
            write(os.path.join(root, 'rules.txt'), rules_text)
            write(os.path.join(root, 'page.md'), page_text)
            for rel, text in {**base_files, **extra}.items():
                write(os.path.join(root, rel), text)
            findings = check(root, os.path.join(root, 'rules.txt'), os.path.join(root, 'page.md'))
            passed = (len(findings) == 0) if want_findings == 0 else any(expect in f for f in findings)
            print(f'{"ok  " if passed else "FAIL"} {name}' + ('' if passed else f': {findings}'))
            failures += not passed
    # The page must quote the table as it is.
    with tempfile.TemporaryDirectory(prefix='coffre-include-rules-') as root:
        write(os.path.join(root, 'rules.txt'), rules_text)
        write(os.path.join(root, 'page.md'), page_text.replace('app: common vault cards', 'app: common'))
        for rel, text in base_files.items():
            write(os.path.join(root, rel), text)
        findings = check(root, os.path.join(root, 'rules.txt'), os.path.join(root, 'page.md'))
        passed = any('quoted table differs' in f for f in findings)
        print(f'{"ok  " if passed else "FAIL"} a stale quote in the page fails')
        failures += not passed
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument('--self-test', action='store_true')
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    findings = check(args.root, os.path.join(args.root, 'docs', 'include-rules.txt'),
                     os.path.join(args.root, 'docs', 'architecture.md'))
    for f in findings:
        print(f)
    if findings:
        print(f'include rules: {len(findings)} finding(s); the rules are docs/include-rules.txt')
        return 1
    print('include rules: every #include of src/ follows docs/include-rules.txt')
    return 0


if __name__ == '__main__':
    sys.exit(main())
