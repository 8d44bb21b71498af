<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/**
 * Checks and normalizes header maps (name => list of strings) for the
 * task classes: a name is a non-empty string, a value a string or a list
 * of strings.
 *
 * @internal
 */
final class Headers
{
    /**
     * @param array<mixed> $headers
     * @return array<string, list<string>>
     * @throws \InvalidArgumentException on an empty name or a value that is not a string
     */
    public static function normalize(array $headers): array
    {
        $result = [];
        foreach ($headers as $name => $value) {
            $name = self::name((string) $name);
            if (!\is_string($value) && !\is_array($value)) {
                throw new \InvalidArgumentException(
                    "header \"$name\" must be a string or a list of strings, got " . get_debug_type($value),
                );
            }
            $result[$name] = self::values($name, $value);
        }
        return $result;
    }

    public static function name(string $name): string
    {
        if ($name === '') {
            throw new \InvalidArgumentException('a header name must not be empty');
        }
        return $name;
    }

    /**
     * @param string|array<mixed> $value
     * @return list<string>
     */
    public static function values(string $name, string|array $value): array
    {
        if (\is_string($value)) {
            return [$value];
        }
        $values = [];
        foreach ($value as $one) {
            if (!\is_string($one)) {
                throw new \InvalidArgumentException(
                    "values of header \"$name\" must be strings, got " . get_debug_type($one),
                );
            }
            $values[] = $one;
        }
        return $values;
    }
}
