<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * multipart/form-data (RFC 7578) as PHP's SAPI reads it, over a body
 * already in memory (max_body_size bounds it): parts named by
 * Content-Disposition `name`; a part with a `filename` (or, failing that,
 * an RFC 5987 `filename*`) is a file, written to a temp file (tempnam()
 * in the given directory, sys_get_temp_dir() by default); `filename=""`
 * is a file input left empty (UPLOAD_ERR_NO_FILE, nothing written). The
 * client filename loses any directory part, `/` or `\`, as in PHP. Fields
 * and files nest by PHP's bracket names ({@see FormTree}). Parts without
 * a name are skipped; preamble and epilogue are ignored. Binary-safe: a
 * delimiter is CRLF `--boundary` followed by `--` or optional spaces and
 * CRLF, anything else is content.
 *
 * Refused (HttpError): a malformed body (no delimiter, no closing
 * delimiter, a part header without a colon, no blank line after a
 * part's headers) 400, more than $maxParts
 * parts or $maxFiles files (empty file inputs not counted) 413; the temp
 * files written so far are removed first.
 */
final class MultipartParser
{
    private const PARAM = '/;[ \t]*([^ \t=;"]++)[ \t]*=[ \t]*(?:"((?:[^"\\\\]++|\\\\.)*+)"|([^;]*+))/s';

    public function __construct(
        private int $maxFiles = 20,
        private int $maxParts = 1000,
        private ?string $dir = null,
    ) {
    }

    /**
     * The boundary of a multipart Content-Type (quoted or not).
     *
     * @throws HttpError 400 when it is missing or not 1-200 printable ASCII characters
     */
    public static function boundary(string $contentType): string
    {
        $boundary = self::params($contentType)['boundary'] ?? '';
        if ($boundary === '' || \strlen($boundary) > 200 || preg_match('/[^\x20-\x7e]|\x20$/', $boundary)) {
            throw new HttpError(400, 'multipart/form-data without a valid boundary');
        }
        return $boundary;
    }

    /** @throws HttpError 400 (malformed), 413 (too many parts or files) */
    public function parse(string $body, string $boundary): MultipartBody
    {
        $fields = [];
        $files = [];
        $leaves = [];
        $temp = [];
        $count = 0;
        try {
            foreach ($this->parts($body, $boundary) as [$headers, $start, $length]) {
                $params = self::params($headers['content-disposition'] ?? '');
                if (!isset($params['name'])) {
                    continue;
                }
                if (!isset($params['filename']) && !isset($params['filename*'])) {
                    FormTree::insert($fields, $params['name'], substr($body, $start, $length));
                    continue;
                }
                $filename = $params['filename'] ?? self::extended($params['filename*']);
                $mime = $headers['content-type'] ?? '';
                if ($filename === '') {
                    $leaf = self::leaf('', $mime, 0, \UPLOAD_ERR_NO_FILE, '');
                } else {
                    if (++$count > $this->maxFiles) {
                        throw new HttpError(413, "more than {$this->maxFiles} files in a multipart body");
                    }
                    $leaf = $this->store($body, $start, $length, $temp);
                    // What follows the last `/` or `\`, as PHP keeps it.
                    $leaf['name'] = substr($filename, \strlen($filename) - strcspn(strrev($filename), '/\\'));
                    $leaf['mime'] = $mime;
                }
                $leaves[] = $leaf;
                FormTree::insert($files, $params['name'], \count($leaves) - 1);
            }
        } catch (\Throwable $e) {
            self::remove($temp);
            throw $e;
        }
        array_walk_recursive($files, static function (mixed &$index) use ($leaves): void {
            $index = $leaves[$index];
        });
        return new MultipartBody($fields, $files, $temp);
    }

    /**
     * Deletes temp files (those the application has not moved away).
     *
     * @param list<string> $paths
     */
    public static function remove(array $paths): void
    {
        foreach ($paths as $path) {
            if (file_exists($path)) {
                @unlink($path);
            }
        }
    }

    /**
     * The parts: [lower-case headers (the first of each), where the content starts, its length].
     *
     * @return \Generator<array{array<string, string>, int, int}>
     */
    private function parts(string $body, string $boundary): \Generator
    {
        if ($body === '') {
            return;
        }
        $dash = '--' . $boundary;
        $needle = "\r\n" . $dash;
        $line = str_starts_with($body, $dash) ? self::line($body, \strlen($dash)) : null;
        if ($line === null) {
            $found = self::next($body, $needle, 0);
            if ($found === null) {
                throw new HttpError(400, 'malformed multipart body: no boundary delimiter');
            }
            $line = [$found[1], $found[2]];
        }
        [$closed, $at] = $line;
        $parts = 0;
        while (!$closed) {
            $found = self::next($body, $needle, $at);
            if ($found === null) {
                throw new HttpError(400, 'malformed multipart body: no closing boundary delimiter');
            }
            if (++$parts > $this->maxParts) {
                throw new HttpError(413, "more than {$this->maxParts} parts in a multipart body");
            }
            [$end, $closed, $next] = $found;
            if (substr($body, $at, 2) === "\r\n") {
                yield [[], $at + 2, $end - $at - 2];
            } elseif ($at < $end) {
                $blank = strpos($body, "\r\n\r\n", $at);
                if ($blank === false || $blank + 2 > $end) {
                    throw new HttpError(400, 'malformed multipart body: a part without the blank line after its headers');
                }
                $start = min($blank + 4, $end);
                yield [self::headers(substr($body, $at, $blank - $at)), $start, $end - $start];
            }
            $at = $next;
        }
    }

    /**
     * The next delimiter line from $from: [where the part before it ends
     * (its CRLF), whether it is the closing one, where what follows it starts].
     *
     * @return array{int, bool, int}|null
     */
    private static function next(string $body, string $needle, int $from): ?array
    {
        while (($at = strpos($body, $needle, $from)) !== false) {
            $line = self::line($body, $at + \strlen($needle));
            if ($line !== null) {
                return [$at, $line[0], $line[1]];
            }
            $from = $at + 1;
        }
        return null;
    }

    /**
     * What follows `--boundary` at $end makes a delimiter line: `--`
     * (closing), or optional spaces and CRLF. [closing, where the next part starts].
     *
     * @return array{bool, int}|null
     */
    private static function line(string $body, int $end): ?array
    {
        if (substr($body, $end, 2) === '--') {
            return [true, $end + 2];
        }
        $eol = $end + strspn($body, " \t", $end);
        return substr($body, $eol, 2) === "\r\n" ? [false, $eol + 2] : null;
    }

    /**
     * A part's header section: lower-case names, the first of each, folded lines joined.
     *
     * @return array<string, string>
     * @throws HttpError 400 on a line without a colon
     */
    private static function headers(string $section): array
    {
        $headers = [];
        $last = null;
        foreach (explode("\r\n", $section) as $line) {
            if ($line === '') {
                continue;
            }
            if ($line[0] === ' ' || $line[0] === "\t") {
                if ($last !== null) {
                    $headers[$last] .= ' ' . trim($line, " \t");
                }
                continue;
            }
            $colon = strpos($line, ':');
            if ($colon === false || $colon === 0) {
                throw new HttpError(400, 'malformed multipart body: a part header without a name or a colon');
            }
            $name = strtolower(trim(substr($line, 0, $colon), " \t"));
            $last = isset($headers[$name]) ? null : $name;
            $headers[$name] ??= trim(substr($line, $colon + 1), " \t");
        }
        return $headers;
    }

    /**
     * The parameters of a header value (`type; a=1; b="x;\"y\""`): lower-case
     * names, the first of each; quoted values unescape `\"` and `\\` only
     * (a Windows path stays whole).
     *
     * @return array<string, string>
     */
    private static function params(string $value): array
    {
        $params = [];
        if (preg_match_all(self::PARAM, $value, $matches, \PREG_SET_ORDER | \PREG_UNMATCHED_AS_NULL) > 0) {
            foreach ($matches as $m) {
                $params[strtolower($m[1])] ??= $m[2] !== null
                    ? preg_replace('/\\\\([\\\\"])/', '$1', $m[2]) ?? $m[2]
                    : rtrim($m[3] ?? '', " \t");
            }
        }
        return $params;
    }

    /** An RFC 5987 value (`UTF-8''na%C3%AFve.txt`): the percent-decoded bytes, whatever the charset. */
    private static function extended(string $value): string
    {
        return rawurldecode(preg_match("/^[^']*'[^']*'(.*)$/s", $value, $m) ? $m[1] : $value);
    }

    /**
     * Writes a file's content to a new temp file (recorded in $temp): the
     * uploads leaf, UPLOAD_ERR_CANT_WRITE / _NO_TMP_DIR when it cannot.
     *
     * @param list<string> $temp
     * @return array{name: string, mime: string, size: int, error: int, tmpName: string}
     */
    private function store(string $body, int $start, int $length, array &$temp): array
    {
        $dir = $this->dir ?? sys_get_temp_dir();
        $path = @tempnam($dir, 'coyote-upload-');
        if ($path === false) {
            return self::leaf('', '', $length, is_dir($dir) ? \UPLOAD_ERR_CANT_WRITE : \UPLOAD_ERR_NO_TMP_DIR, '');
        }
        $temp[] = $path;
        if (@file_put_contents($path, substr($body, $start, $length)) !== $length) {
            @unlink($path);
            array_pop($temp);
            return self::leaf('', '', $length, \UPLOAD_ERR_CANT_WRITE, '');
        }
        return self::leaf('', '', $length, \UPLOAD_ERR_OK, $path);
    }

    /** @return array{name: string, mime: string, size: int, error: int, tmpName: string} */
    private static function leaf(string $name, string $mime, int $size, int $error, string $tmpName): array
    {
        return ['name' => $name, 'mime' => $mime, 'size' => $size, 'error' => $error, 'tmpName' => $tmpName];
    }
}
