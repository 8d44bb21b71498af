<?php

declare(strict_types=1);

namespace Coyote\Tests\Support;

/**
 * Writes nested arrays as block YAML for test configs: maps as `key:`,
 * lists as `- item`, strings double-quoted (JSON escapes are valid YAML).
 */
final class Yaml
{
    /** @param array<mixed> $document */
    public static function emit(array $document): string
    {
        return self::block($document, 0);
    }

    /** @param array<mixed> $value */
    private static function block(array $value, int $depth): string
    {
        $pad = str_repeat('  ', $depth);
        $out = '';
        $list = array_is_list($value);
        foreach ($value as $key => $item) {
            $lead = $list ? "$pad- " : $pad . self::key((string) $key) . ':';
            if (\is_array($item) && $item !== []) {
                $out .= $list ? "$pad-\n" : "$lead\n";
                $out .= self::block($item, $depth + 1);
            } else {
                $out .= ($list ? $lead : "$lead ") . self::scalar($item) . "\n";
            }
        }
        return $out;
    }

    private static function key(string $key): string
    {
        return preg_match('/^[A-Za-z_][A-Za-z0-9_.-]*$/', $key) === 1 ? $key : self::scalar($key);
    }

    private static function scalar(mixed $value): string
    {
        return match (true) {
            $value === [] => '{}',
            \is_bool($value) => $value ? 'true' : 'false',
            \is_int($value), \is_float($value) => (string) $value,
            $value === null => 'null',
            default => json_encode((string) $value, \JSON_UNESCAPED_SLASHES | \JSON_UNESCAPED_UNICODE),
        };
    }
}
