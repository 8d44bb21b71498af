<?php

declare(strict_types=1);

namespace Coyote\Http;

/**
 * Walks the uploads tree Coyote sends (the shape of $_FILES, nested by
 * field name): every leaf (an array with tmpName, error and size) goes
 * through $leaf, every other array is walked again, anything else dropped.
 */
final class Uploads
{
    /**
     * @template T
     * @param array<mixed> $tree
     * @param callable(array<string, mixed>): T $leaf
     * @return array<mixed>
     */
    public static function map(array $tree, callable $leaf): array
    {
        $out = [];
        foreach ($tree as $key => $node) {
            if (!\is_array($node)) {
                continue;
            }
            if (isset($node['tmpName'], $node['error']) && \array_key_exists('size', $node)) {
                $out[$key] = $leaf($node);
            } else {
                $out[$key] = self::map($node, $leaf);
            }
        }
        return $out;
    }
}
