"""Templates an attacker submits to tie up the API or a worker: each must be refused at
submission, fast and without a big allocation (bench/template_payloads.py times them)."""

from __future__ import annotations

PAYLOADS: dict[str, str] = {
    # The three measured in issue 16.
    "tower_of_powers": "{{ (((10**64)**64)**64)**64 }}",
    "printf_width": "{{ '%1000000000s'|format(instruction) }}",
    "loop_on_data": "{% for i in range(10) %}{% for j in range(10**7) %}{% endfor %}{% endfor %}{{ instruction }}",
    # Work done in C: priced before it runs.
    "big_power": "{{ 2 ** 100000000 }}",
    "power_of_big_base": "{{ (10 ** 1000) ** 1000 }}",
    "big_product_of_ints": "{% set n = 10 ** 1000 %}{{ n * n * n * n * n }}",
    "string_times_big": '{{ "a" * 10**9 }}',
    "list_times_big": "{{ [1] * 10**8 }}",
    "list_of_strings_times": "{% set s = 'x' * 900000 %}{{ ([s] * 1000) | join }}",
    "format_method_width": "{{ '{:>1000000000}'.format(instruction) }}",
    "format_method_nested_width": "{{ '{:>{}}'.format(instruction, 10**9) }}",
    "printf_star_width": "{{ '%*s' % (10**9, instruction) }}",
    "printf_precision": "{{ '%.1000000000f' % 1.5 }}",
    "printf_huge_tuple": "{{ ('%s' * 100000) % ((instruction,) * 100000) }}",
    "center_filter": "{{ 'x' | center(10**9) }}",
    "center_method": "{{ instruction.center(10**9) }}",
    "zfill_method": "{{ instruction.zfill(10**9) }}",
    "replace_empty": "{{ ('a' * 100000).replace('', 'b' * 1000) }}",
    "indent_abuse": "{{ ('\\n' * 100000) | indent(100000) }}",
    "wordwrap_abuse": "{{ ('a ' * 200000) | wordwrap(1, wrapstring='x' * 100000) }}",
    "join_abuse": "{{ range(10000) | join('y' * 100000) }}",
    "truncate_abuse": "{{ ('a' * 10**9) | truncate(10) }}",
    "batch_fill": "{{ [1] | batch(10**9, fill_with='x') | list }}",
    "slice_count": "{{ [1] | slice(10**9) | list }}",
    "to_bytes": "{{ (1).to_bytes(10**9, 'big') }}",
    "tojson_indent": "{% set l = [[[[[1]]]]] * 10000 %}{{ l | tojson(indent=100000) }}",
    # Python-level work: loops, recursion, doubling.
    "range_huge": "{% for i in range(10**9) %}{{ i }}{% endfor %}",
    "nested_loops": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "recursive_macro": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "mutual_recursion": "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
    "recursive_block": "{% block user %}{{ self.user() }}{% endblock %}",
    "recursive_loop": "{% for x in [1] recursive %}{{ loop([x]) }}{% endfor %}",
    "namespace_doubling": "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s }}",
    "literal_doubling_compare": "{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(60) %}"
    "{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}",
    "macro_output_blowup": "{% set s = 'x' * 500000 %}{% macro m() %}" + "{{ s }}" * 50 + "{% endmacro %}{{ m() }}",
    "cycler_loop": "{% set c = cycler('a' * 500000, 'b') %}{% for i in range(10000) %}{{ c.next() }}{% endfor %}",
    "set_block_blowup": "{% set s = 'x' * 900000 %}{% set t %}{{ s }}{{ s }}{{ s }}{% endset %}{{ t }}",
    "sum_of_lists": "{{ ([[1] * 300] * 300) | sum(start=[]) | length }}",
    "lipsum": "{{ lipsum(10**6) }}",
    # Escapes from the sandbox.
    "class_subclasses": "{{ ().__class__.__base__.__subclasses__() }}",
    "dict_class": "{{ dict.__class__ }}",
    "self_globals": "{{ self.__init__.__globals__ }}",
    "getitem_dunder": "{{ instruction['__class__'] }}",
    "format_attribute_escape": "{{ '{0.__class__.__mro__}'.format(instruction) }}",
    "config": "{{ config.items() }}",
    "request": "{{ request.environ }}",
    "mutate_list": "{% set l = [1] %}{% for i in range(30) %}{{ l.extend(l) }}{% endfor %}",
    "namespace_dunder": "{% set ns = namespace() %}{{ ns.__init__ }}",
    "huge_literal": "{{ " + "9" * 5000 + " }}",
    "deep_brackets": "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
}
