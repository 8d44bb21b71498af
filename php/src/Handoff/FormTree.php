<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * PHP's bracket-name semantics (`a[]`, `a[b][c]`, as parse_str() and
 * $_POST nest them), without parse_str()'s ini-bound limits: no
 * max_input_vars (its warning, its dropped variables). The rules are
 * php_register_variable_ex()'s: leading spaces skipped, the name cut at
 * NUL, spaces and dots before the first `[` become `_`, an unclosed first
 * `[` becomes `_` (and so do spaces, dots and `[` after it), an index of
 * one whitespace character appends like `[]`, what follows a `]` other
 * than `[` is ignored, and a name nested deeper than
 * max_input_nesting_level is dropped along with what its base name held.
 * `HandoffMultipartTest` checks it against parse_str().
 *
 * @internal
 */
final class FormTree
{
    /** @param array<mixed> $tree */
    public static function insert(array &$tree, string $name, mixed $value): void
    {
        $name = ltrim(explode("\0", $name, 2)[0], ' ');
        $open = strpos($name, '[');
        $base = strtr($open === false ? $name : substr($name, 0, $open), ' .', '__');
        if ($base === '') {
            return;
        }
        /** @var list<string|null> $keys null: append */
        $keys = [];
        $depth = 0;
        $limit = max(1, (int) ini_get('max_input_nesting_level'));
        while ($open !== false) {
            if (++$depth > $limit) {
                unset($tree[$base]);
                return;
            }
            $close = strpos($name, ']', $open + 1);
            if ($close === false) {
                if ($keys === []) {
                    $base .= '_' . strtr(substr($name, $open + 1), ' .[', '___');
                }
                break;
            }
            $key = substr($name, $open + 1, $close - $open - 1);
            $keys[] = $key === '' || (\strlen($key) === 1 && ctype_space($key)) ? null : $key;
            $open = ($name[$close + 1] ?? '') === '[' ? $close + 1 : false;
        }
        $node = &$tree;
        $index = $base;
        try {
            foreach ($keys as $key) {
                if ($index === null) {
                    $node[] = [];
                    $node = &$node[array_key_last($node)];
                } else {
                    if (!isset($node[$index]) || !\is_array($node[$index])) {
                        $node[$index] = [];
                    }
                    $node = &$node[$index];
                }
                $index = $key;
            }
            if ($index === null) {
                $node[] = $value;
            } else {
                $node[$index] = $value;
            }
        } catch (\Error) {
            // The next index is taken (`a[9223372036854775807]` then `a[]`): PHP drops it too.
        }
    }
}
