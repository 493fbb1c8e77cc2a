"""The built-in task bank: 10 easy, 10 medium and 10 hard Python tasks, each with a reference
solution and pytest tests (the hard ones include a small HTTP API, tested through WSGI without
a network). Some solutions have guard clauses their tests need, some take None on purpose: the
built-in strategies' outcomes differ from task to task.
"""

from __future__ import annotations

__all__ = ["rows"]

_T = "from solution import *\n\n"

_BANK: list[tuple[str, str, str, str, str]] = [
    # (id, complexity, prompt, solution, tests)
    ("easy-add", "easy", "Add two numbers.",
     "def add(a, b):\n    return a + b\n",
     _T + "def test_add():\n    assert add(2, 3) == 5\n    assert add(-1, 1) == 0\n"),
    ("easy-is-even", "easy", "Tell whether a number is even.",
     "def is_even(n):\n    return n % 2 == 0\n",
     _T + "def test_even():\n    assert is_even(4) and not is_even(7)\n"),
    ("easy-reverse", "easy", "Reverse a string.",
     "def reverse(s):\n    return s[::-1]\n",
     _T + "def test_reverse():\n    assert reverse('abc') == 'cba'\n    assert reverse('') == ''\n"),
    ("easy-mean", "easy", "Mean of a list of numbers, 0 for an empty list.",
     "def mean(xs):\n    if not xs:\n        return 0\n    return sum(xs) / len(xs)\n",
     _T + "def test_mean():\n    assert mean([1, 2]) == 1.5\n\ndef test_empty():\n    assert mean([]) == 0\n"),
    ("easy-default", "easy", "First element of a list, or a default (which may be None).",
     "def first(xs, default=None):\n    return xs[0] if xs else default\n",
     _T + "def test_first():\n    assert first([3, 4]) == 3\n    assert first([], None) is None\n"),
    ("easy-clamp", "easy", "Clamp a number between a low and a high bound.",
     "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
     _T + "def test_clamp():\n    assert clamp(5, 0, 3) == 3 and clamp(-1, 0, 3) == 0\n"),
    ("easy-count-vowels", "easy", "Count the vowels in a string.",
     "def vowels(s):\n    return sum(c in 'aeiou' for c in s.lower())\n",
     _T + "def test_vowels():\n    assert vowels('Hello World') == 3\n"),
    ("easy-safe-div", "easy", "Divide, returning None when dividing by zero.",
     "def safe_div(a, b):\n    if b == 0:\n        return None\n    return a / b\n",
     _T + "def test_div():\n    assert safe_div(6, 3) == 2\n\ndef test_zero():\n    assert safe_div(1, 0) is None\n"),
    ("easy-max", "easy", "Largest of a list, None for an empty list.",
     "def largest(xs):\n    if not xs:\n        return None\n    return max(xs)\n",
     _T + "def test_largest():\n    assert largest([3, 9, 2]) == 9\n    assert largest([]) is None\n"),
    ("easy-join", "easy", "Join words with a separator.",
     "def join(words, sep=' '):\n    return sep.join(words)\n",
     _T + "def test_join():\n    assert join(['a', 'b'], '-') == 'a-b'\n"),
    ("medium-fizzbuzz", "medium", "FizzBuzz up to n as a list of strings.",
     "def fizzbuzz(n):\n    out = []\n    for i in range(1, n + 1):\n        if i % 15 == 0:\n            out.append('FizzBuzz')\n        elif i % 3 == 0:\n            out.append('Fizz')\n        elif i % 5 == 0:\n            out.append('Buzz')\n        else:\n            out.append(str(i))\n    return out\n",
     _T + "def test_fb():\n    assert fizzbuzz(15)[-1] == 'FizzBuzz' and fizzbuzz(5)[2] == 'Fizz'\n"),
    ("medium-word-count", "medium", "Count words, case-insensitive, most frequent first.",
     "def word_count(text):\n    counts = {}\n    for w in text.lower().split():\n        counts[w] = counts.get(w, 0) + 1\n    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))\n",
     _T + "def test_wc():\n    assert word_count('a b A c b a')[0] == ('a', 3)\n"),
    ("medium-flatten", "medium", "Flatten nested lists.",
     "def flatten(xs):\n    out = []\n    for x in xs:\n        if isinstance(x, list):\n            out.extend(flatten(x))\n            continue\n        out.append(x)\n    return out\n",
     _T + "def test_flatten():\n    assert flatten([1, [2, [3, 4]], 5]) == [1, 2, 3, 4, 5]\n"),
    ("medium-binary-search", "medium", "Binary search: index of a value in a sorted list, or -1.",
     "def search(xs, v):\n    lo, hi = 0, len(xs) - 1\n    while lo <= hi:\n        mid = (lo + hi) // 2\n        if xs[mid] == v:\n            return mid\n        if xs[mid] < v:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n    return -1\n",
     _T + "def test_search():\n    assert search([1, 3, 5, 7], 5) == 2 and search([1, 3], 4) == -1\n"),
    ("medium-parse-kv", "medium", "Parse 'a=1;b=2' into a dict, skipping empty or malformed parts.",
     "def parse(s):\n    out = {}\n    for part in s.split(';'):\n        if '=' not in part:\n            continue\n        k, v = part.split('=', 1)\n        out[k.strip()] = v.strip()\n    return out\n",
     _T + "def test_parse():\n    assert parse('a=1; b = 2;;junk') == {'a': '1', 'b': '2'}\n"),
    ("medium-stack", "medium", "A stack with push, pop (None when empty) and peek.",
     "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n        self.items.append(x)\n    def pop(self):\n        if not self.items:\n            return None\n        return self.items.pop()\n    def peek(self):\n        return self.items[-1] if self.items else None\n",
     _T + "def test_stack():\n    s = Stack()\n    assert s.pop() is None\n    s.push(1)\n    s.push(None)\n    assert s.pop() is None and s.peek() == 1\n"),
    ("medium-roman", "medium", "Convert an integer (1..3999) to a Roman numeral.",
     "def roman(n):\n    vals = [(1000,'M'),(900,'CM'),(500,'D'),(400,'CD'),(100,'C'),(90,'XC'),(50,'L'),(40,'XL'),(10,'X'),(9,'IX'),(5,'V'),(4,'IV'),(1,'I')]\n    out = ''\n    for v, s in vals:\n        while n >= v:\n            out += s\n            n -= v\n    return out\n",
     _T + "def test_roman():\n    assert roman(1994) == 'MCMXCIV' and roman(4) == 'IV'\n"),
    ("medium-chunks", "medium", "Split a list into chunks of size n; n must be positive.",
     "def chunks(xs, n):\n    if n <= 0:\n        raise ValueError('n must be positive')\n    return [xs[i:i + n] for i in range(0, len(xs), n)]\n",
     _T + "import pytest\n\ndef test_chunks():\n    assert chunks([1, 2, 3], 2) == [[1, 2], [3]]\n\ndef test_bad():\n    with pytest.raises(ValueError):\n        chunks([1], 0)\n"),
    ("medium-anagrams", "medium", "Group words that are anagrams of each other.",
     "def groups(words):\n    out = {}\n    for w in words:\n        out.setdefault(''.join(sorted(w)), []).append(w)\n    return sorted(sorted(g) for g in out.values())\n",
     _T + "def test_groups():\n    assert groups(['ab', 'ba', 'c']) == [['ab', 'ba'], ['c']]\n"),
    ("medium-merge-dicts", "medium", "Merge dicts; later values win, None values are skipped.",
     "def merge(*ds):\n    out = {}\n    for d in ds:\n        for k, v in d.items():\n            if v is None:\n                continue\n            out[k] = v\n    return out\n",
     _T + "def test_merge():\n    assert merge({'a': 1}, {'a': None, 'b': 2}) == {'a': 1, 'b': 2}\n"),
    ("hard-lru", "hard", "An LRU cache with get (None when absent) and put, bounded by capacity.",
     "from collections import OrderedDict\n\nclass LRU:\n    def __init__(self, capacity):\n        if capacity < 1:\n            raise ValueError('capacity')\n        self.capacity = capacity\n        self.data = OrderedDict()\n    def get(self, k):\n        if k not in self.data:\n            return None\n        self.data.move_to_end(k)\n        return self.data[k]\n    def put(self, k, v):\n        self.data[k] = v\n        self.data.move_to_end(k)\n        while len(self.data) > self.capacity:\n            self.data.popitem(last=False)\n",
     _T + "def test_lru():\n    c = LRU(2)\n    c.put('a', 1); c.put('b', 2); c.get('a'); c.put('c', 3)\n    assert c.get('b') is None and c.get('a') == 1\n"),
    ("hard-dijkstra", "hard", "Shortest path lengths from a source in a weighted graph.",
     "import heapq\n\ndef dijkstra(graph, src):\n    dist = {src: 0}\n    heap = [(0, src)]\n    while heap:\n        d, u = heapq.heappop(heap)\n        if d > dist.get(u, float('inf')):\n            continue\n        for v, w in graph.get(u, []):\n            nd = d + w\n            if nd < dist.get(v, float('inf')):\n                dist[v] = nd\n                heapq.heappush(heap, (nd, v))\n    return dist\n",
     _T + "def test_dijkstra():\n    g = {'a': [('b', 1), ('c', 4)], 'b': [('c', 1)]}\n    assert dijkstra(g, 'a') == {'a': 0, 'b': 1, 'c': 2}\n"),
    ("hard-tokenize", "hard", "Tokenize arithmetic: numbers, + - * / and parentheses; reject anything else.",
     "def tokenize(s):\n    out, i = [], 0\n    while i < len(s):\n        c = s[i]\n        if c.isspace():\n            i += 1\n            continue\n        if c.isdigit():\n            j = i\n            while j < len(s) and s[j].isdigit():\n                j += 1\n            out.append(int(s[i:j]))\n            i = j\n            continue\n        if c in '+-*/()':\n            out.append(c)\n            i += 1\n            continue\n        raise ValueError(f'bad character {c!r}')\n    return out\n",
     _T + "import pytest\n\ndef test_tokens():\n    assert tokenize('12+(3*4)') == [12, '+', '(', 3, '*', 4, ')']\n\ndef test_bad():\n    with pytest.raises(ValueError):\n        tokenize('1 $ 2')\n"),
    ("hard-evaluate", "hard", "Evaluate + - * / with precedence and parentheses (integers).",
     "def evaluate(s):\n    toks = s.replace('(', ' ( ').replace(')', ' ) ').replace('+', ' + ').replace('-', ' - ').replace('*', ' * ').replace('/', ' / ').split()\n    pos = 0\n    def expr():\n        nonlocal pos\n        v = term()\n        while pos < len(toks) and toks[pos] in '+-':\n            op = toks[pos]; pos += 1\n            v = v + term() if op == '+' else v - term()\n        return v\n    def term():\n        nonlocal pos\n        v = atom()\n        while pos < len(toks) and toks[pos] in '*/':\n            op = toks[pos]; pos += 1\n            v = v * atom() if op == '*' else v / atom()\n        return v\n    def atom():\n        nonlocal pos\n        t = toks[pos]; pos += 1\n        if t == '(':\n            v = expr(); pos += 1\n            return v\n        return int(t)\n    return expr()\n",
     _T + "def test_eval():\n    assert evaluate('2+3*4') == 14 and evaluate('(2+3)*4') == 20 and evaluate('7/2') == 3.5\n"),
    ("hard-interval-merge", "hard", "Merge overlapping intervals.",
     "def merge(intervals):\n    if not intervals:\n        return []\n    xs = sorted(intervals)\n    out = [list(xs[0])]\n    for a, b in xs[1:]:\n        if a <= out[-1][1]:\n            out[-1][1] = max(out[-1][1], b)\n        else:\n            out.append([a, b])\n    return out\n",
     _T + "def test_merge():\n    assert merge([(1, 3), (2, 6), (8, 10)]) == [[1, 6], [8, 10]] and merge([]) == []\n"),
    ("hard-topo", "hard", "Topological order of a dependency graph; raise on a cycle.",
     "def topo(deps):\n    order, state = [], {}\n    def visit(n):\n        if state.get(n) == 1:\n            raise ValueError('cycle')\n        if state.get(n) == 2:\n            return\n        state[n] = 1\n        for m in deps.get(n, []):\n            visit(m)\n        state[n] = 2\n        order.append(n)\n    for n in sorted(deps):\n        visit(n)\n    return order\n",
     _T + "import pytest\n\ndef test_topo():\n    assert topo({'a': ['b'], 'b': []}) == ['b', 'a']\n\ndef test_cycle():\n    with pytest.raises(ValueError):\n        topo({'a': ['b'], 'b': ['a']})\n"),
    ("hard-rate-limiter", "hard", "A token-bucket rate limiter with an injectable clock.",
     "class Bucket:\n    def __init__(self, rate, burst, clock):\n        self.rate, self.burst, self.clock = rate, burst, clock\n        self.tokens, self.at = burst, clock()\n    def allow(self):\n        now = self.clock()\n        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)\n        self.at = now\n        if self.tokens < 1:\n            return False\n        self.tokens -= 1\n        return True\n",
     _T + "def test_bucket():\n    t = [0.0]\n    b = Bucket(1.0, 2, lambda: t[0])\n    assert b.allow() and b.allow() and not b.allow()\n    t[0] = 1.0\n    assert b.allow()\n"),
    ("hard-http-api", "hard", "A small JSON HTTP API (WSGI): GET /items lists, POST /items adds (400 without a name).",
     "import json\n\nITEMS = []\n\ndef app(environ, start_response):\n    method, path = environ['REQUEST_METHOD'], environ['PATH_INFO']\n    if path != '/items':\n        start_response('404 Not Found', [('Content-Type', 'application/json')])\n        return [b'{\"error\": \"not found\"}']\n    if method == 'POST':\n        size = int(environ.get('CONTENT_LENGTH') or 0)\n        body = json.loads(environ['wsgi.input'].read(size) or b'{}')\n        if not body.get('name'):\n            start_response('400 Bad Request', [('Content-Type', 'application/json')])\n            return [b'{\"error\": \"name required\"}']\n        ITEMS.append({'id': len(ITEMS) + 1, 'name': body['name']})\n        start_response('201 Created', [('Content-Type', 'application/json')])\n        return [json.dumps(ITEMS[-1]).encode()]\n    start_response('200 OK', [('Content-Type', 'application/json')])\n    return [json.dumps(ITEMS).encode()]\n",
     "import io, json\nfrom wsgiref.util import setup_testing_defaults\nfrom solution import app\n\n"
     "def call(method, path, body=None):\n    env = {}\n    setup_testing_defaults(env)\n    data = json.dumps(body).encode() if body is not None else b''\n"
     "    env.update(REQUEST_METHOD=method, PATH_INFO=path, CONTENT_LENGTH=str(len(data)))\n"
     "    env['wsgi.input'] = io.BytesIO(data)\n    status = []\n"
     "    out = b''.join(app(env, lambda s, h: status.append(s)))\n    return status[0], json.loads(out)\n\n"
     "def test_create_and_list():\n    s, item = call('POST', '/items', {'name': 'x'})\n    assert s.startswith('201') and item['name'] == 'x'\n"
     "    s, items = call('GET', '/items')\n    assert s.startswith('200') and items[-1]['name'] == 'x'\n\n"
     "def test_validation():\n    s, err = call('POST', '/items', {})\n    assert s.startswith('400') and err == {'error': 'name required'}\n\n"
     "def test_not_found():\n    assert call('GET', '/nope')[0].startswith('404')\n"),
    ("hard-retry", "hard", "Retry a callable up to n times on exceptions, with backoff through an injectable sleep.",
     "def retry(fn, attempts, sleep, base=0.1):\n    if attempts < 1:\n        raise ValueError('attempts')\n    for i in range(attempts):\n        try:\n            return fn()\n        except Exception:\n            if i == attempts - 1:\n                raise\n            sleep(base * 2 ** i)\n",
     _T + "import pytest\n\ndef test_retry():\n    calls, naps = [], []\n    def f():\n        calls.append(1)\n        if len(calls) < 3:\n            raise OSError('flaky')\n        return 'ok'\n    assert retry(f, 5, naps.append) == 'ok' and naps == [0.1, 0.2]\n\n"
     "def test_gives_up():\n    with pytest.raises(OSError):\n        retry(lambda: (_ for _ in ()).throw(OSError('x')), 2, lambda s: None)\n"),
    ("hard-json-path", "hard", "Read a value at a dotted path (list indices allowed) or a default.",
     "def get(obj, path, default=None):\n    cur = obj\n    for part in path.split('.'):\n        if isinstance(cur, list):\n            if not part.isdigit() or int(part) >= len(cur):\n                return default\n            cur = cur[int(part)]\n        elif isinstance(cur, dict):\n            if part not in cur:\n                return default\n            cur = cur[part]\n        else:\n            return default\n    return cur\n",
     _T + "def test_get():\n    doc = {'a': [{'b': 1}, {'b': 2}]}\n    assert get(doc, 'a.1.b') == 2\n    assert get(doc, 'a.5.b', 'x') == 'x' and get(doc, 'a.0.c') is None\n"),
]  # fmt: skip


def rows() -> list[tuple[str, str, str, str, str]]:
    """The built-in tasks as ``(id, complexity, prompt, solution, tests)``
    (:func:`mindbank.pipeline.tasks.builtin` makes them tasks)."""
    return list(_BANK)
