<?php

declare(strict_types=1);

namespace Coyote\Tests;

require_once __DIR__ . '/Support/HandoffPeer.php';
require_once __DIR__ . '/Support/RawHttp.php';
require_once 'Nyholm/Psr7/autoload.php';

use Coyote\Handoff\ConnectionMeta;
use Coyote\Handoff\FormTree;
use Coyote\Handoff\HttpError;
use Coyote\Handoff\HttpOptions;
use Coyote\Handoff\Mode;
use Coyote\Handoff\MultipartParser;
use Coyote\Handoff\ParsedRequest;
use Coyote\Handoff\ServerRequestBuilder;
use Coyote\Tests\Support\HandoffPeer;
use Coyote\Tests\Support\RawHttp;
use Nyholm\Psr7\Factory\Psr17Factory;
use PHPUnit\Framework\TestCase;
use Psr\Http\Message\UploadedFileInterface;

/**
 * multipart/form-data in the hand-off HttpServer: the parser on its own
 * (temp files in a directory of the test's), the PSR-7 request the
 * builder makes of it, and an upload through a real worker process
 * (tests/Support/handoff-app.php, TMPDIR pointed at the test's directory).
 */
final class HandoffMultipartTest extends TestCase
{
    private const B = '----CoyoteBoundary7MA4YWxkTrZu0gW';

    private string $dir;

    protected function setUp(): void
    {
        $this->dir = sys_get_temp_dir() . '/coyote-multipart-test-' . bin2hex(random_bytes(6));
        mkdir($this->dir);
    }

    protected function tearDown(): void
    {
        foreach (glob($this->dir . '/*') ?: [] as $file) {
            unlink($file);
        }
        rmdir($this->dir);
    }

    /**
     * A multipart body: each part is [the Content-Disposition parameters
     * after `form-data; `, or the part's header lines; its content].
     *
     * @param list<array{string|list<string>, string}> $parts
     */
    private static function body(array $parts, string $boundary = self::B): string
    {
        $body = '';
        foreach ($parts as [$headers, $content]) {
            $lines = \is_string($headers) ? ['Content-Disposition: form-data; ' . $headers] : $headers;
            $body .= ($body === '' ? '' : "\r\n") . "--$boundary\r\n" . implode('', array_map(static fn (string $l) => "$l\r\n", $lines))
                . "\r\n" . $content;
        }
        return $body . "\r\n--$boundary--\r\n";
    }

    private function parser(int $maxFiles = 20, int $maxParts = 1000): MultipartParser
    {
        return new MultipartParser($maxFiles, $maxParts, $this->dir);
    }

    /** @return list<string> */
    private function tempFiles(): array
    {
        return glob($this->dir . '/*') ?: [];
    }

    private function refused(MultipartParser $parser, string $body, int $status, string $boundary = self::B): string
    {
        try {
            $parser->parse($body, $boundary);
        } catch (HttpError $e) {
            self::assertSame($status, $e->status, $e->getMessage());
            self::assertSame([], $this->tempFiles(), 'no temp file left after: ' . $e->getMessage());
            return $e->getMessage();
        }
        self::fail('accepted: ' . json_encode($body));
    }

    public function testFieldsNestByPhpsBracketNames(): void
    {
        $parsed = $this->parser()->parse(self::body([
            ['name="title"', "Line one\r\nline two"],
            ['name="tags[]"', 'x'],
            ['name="tags[]"', 'y'],
            ['name="user[name]"', 'Ann'],
            ['name="user[address][city]"', 'Oslo'],
            ['name="a.b c"', 'mangled'],
            ['name="empty"', ''],
            ['name="dup"', 'first'],
            ['name="dup"', 'last'],
        ]), self::B);
        $expected = [
            'title' => "Line one\r\nline two",
            'tags' => ['x', 'y'],
            'user' => ['name' => 'Ann', 'address' => ['city' => 'Oslo']],
            'a_b_c' => 'mangled',
            'empty' => '',
            'dup' => 'last',
        ];
        self::assertSame($expected, $parsed->fields);
        parse_str('title=Line+one%0D%0Aline+two&tags[]=x&tags[]=y&user[name]=Ann&user[address][city]=Oslo&a.b+c=mangled&empty=&dup=first&dup=last', $php);
        self::assertSame($php, $parsed->fields, 'as parse_str() nests them');
        self::assertSame([], $parsed->files);
        self::assertSame([], $parsed->tempFiles);
    }

    public function testFormTreeNestsAsParseStrDoes(): void
    {
        $names = ['a[b', 'a[b.c d', 'a.b[c.d]', ' a', '[a]', 'a]', 'a[b]c', 'a[b][c', 'a[b]][c]', 'a[][]', 'a[[b]]',
            'a[ ]', "a[\t]", 'a[  ]', "a\0b", 'a[', '[]', ' ', '.', 'a[05]', 'a[-5]', 'a [b]', '5', 'a[9223372036854775807]'];
        mt_srand(20261204);
        $alphabet = ['a', 'b', '[', ']', '[', ']', ' ', '.', "\0", '0', '7', "\t"];
        for ($i = 0; $i < 3000; $i++) {
            $name = '';
            for ($n = mt_rand(0, 8); $n > 0; $n--) {
                $name .= $alphabet[mt_rand(0, \count($alphabet) - 1)];
            }
            $names[] = $name;
        }
        // Several names into one tree (later ones may override or extend earlier ones), as in a form.
        foreach (array_chunk($names, 4) as $chunk) {
            $query = implode('&', array_map(static fn (string $n, int $i) => rawurlencode($n) . "=$i", $chunk, array_keys($chunk)));
            parse_str($query, $expected);
            $tree = [];
            foreach ($chunk as $i => $name) {
                FormTree::insert($tree, $name, (string) $i);
            }
            self::assertSame($expected, $tree, json_encode($chunk));
        }
        // Beyond max_input_nesting_level: dropped with what the base name held (parse_str warns; this does not).
        $tree = [];
        FormTree::insert($tree, 'a[x]', '0');
        FormTree::insert($tree, 'a' . str_repeat('[x]', 65), '1');
        FormTree::insert($tree, 'b' . str_repeat('[x]', 64), '2');
        self::assertArrayNotHasKey('a', $tree);
        self::assertSame(1 + 64, substr_count((string) json_encode($tree), '{'), 'the tree and b\'s 64 levels');
        // No room for an appended element: dropped, as by parse_str, not an Error.
        $tree = [];
        FormTree::insert($tree, 'a[9223372036854775807]', '1');
        FormTree::insert($tree, 'a[]', '2');
        self::assertSame(['a' => [\PHP_INT_MAX => '1']], $tree);
    }

    public function testFilesGoToTempFilesAndNestByName(): void
    {
        $parsed = $this->parser()->parse(self::body([
            [['Content-Disposition: form-data; name="doc"; filename="report.txt"', 'Content-Type: text/plain'], "hello\r\n"],
            [['Content-Disposition: form-data; name="imgs[]"; filename="a.png"', 'Content-Type: image/png'], "\x89PNG a"],
            [['Content-Disposition: form-data; name="imgs[]"; filename="b.png"', 'Content-Type: image/png'], "\x89PNG bb"],
            [['Content-Disposition: form-data; name="deep[a][b]"; filename="no-type.bin"'], 'deep'],
            ['name="note"', 'a field between files'],
        ]), self::B);
        self::assertSame(['note' => 'a field between files'], $parsed->fields);
        self::assertCount(4, $parsed->tempFiles);
        self::assertEqualsCanonicalizing($this->tempFiles(), $parsed->tempFiles, 'written in the parser\'s directory');
        $leaf = static fn (array $l): array => [$l['name'], $l['mime'], $l['size'], $l['error'], file_get_contents($l['tmpName'])];
        self::assertSame(['report.txt', 'text/plain', 7, \UPLOAD_ERR_OK, "hello\r\n"], $leaf($parsed->files['doc']));
        self::assertSame(['a.png', 'image/png', 6, \UPLOAD_ERR_OK, "\x89PNG a"], $leaf($parsed->files['imgs'][0]));
        self::assertSame(['b.png', 'image/png', 7, \UPLOAD_ERR_OK, "\x89PNG bb"], $leaf($parsed->files['imgs'][1]));
        self::assertSame(['no-type.bin', '', 4, \UPLOAD_ERR_OK, 'deep'], $leaf($parsed->files['deep']['a']['b']));
        self::assertSame(['doc', 'imgs', 'deep'], array_keys($parsed->files));
        MultipartParser::remove($parsed->tempFiles);
        self::assertSame([], $this->tempFiles());
    }

    public function testTheBuilderMakesPsr7UploadedFilesAndParsedBody(): void
    {
        $factory = new Psr17Factory();
        $builder = new ServerRequestBuilder($factory, $factory, $factory, $factory, $this->parser());
        $body = self::body([
            ['name="title"', 'Q3'],
            [['Content-Disposition: form-data; name="files[report]"; filename="q3.csv"', 'Content-Type: text/csv'], "a,b\r\n1,2\r\n"],
            [['Content-Disposition: form-data; name="files[none]"; filename=""', 'Content-Type: application/octet-stream'], ''],
        ]);
        $request = new ParsedRequest('POST', '/up', '1.1', [
            ['Host', 'h'],
            ['Content-Type', 'multipart/form-data; boundary=' . self::B],
            ['Content-Length', (string) \strlen($body)],
        ], $body, true);
        $temp = ['stale'];
        $psr = $builder->build($request, new ConnectionMeta(1, '127.0.0.1:5000', '127.0.0.1:80', 'web', Mode::FdPassing), $temp);
        self::assertSame(['title' => 'Q3'], $psr->getParsedBody());
        self::assertSame('', (string) $psr->getBody(), 'like php://input for multipart/form-data');
        self::assertSame(['files'], array_keys($psr->getUploadedFiles()));
        $report = $psr->getUploadedFiles()['files']['report'];
        self::assertInstanceOf(UploadedFileInterface::class, $report);
        self::assertSame([\UPLOAD_ERR_OK, 10, 'q3.csv', 'text/csv'],
            [$report->getError(), $report->getSize(), $report->getClientFilename(), $report->getClientMediaType()]);
        self::assertSame("a,b\r\n1,2\r\n", (string) $report->getStream());
        $none = $psr->getUploadedFiles()['files']['none'];
        self::assertSame([\UPLOAD_ERR_NO_FILE, 0, ''], [$none->getError(), $none->getSize(), $none->getClientFilename()]);
        self::assertSame($this->tempFiles(), $temp, 'the temp files are handed to the server');
        // moveTo() works and the server's clean-up tolerates it.
        $target = $this->dir . '/moved.csv';
        $report->moveTo($target);
        self::assertSame("a,b\r\n1,2\r\n", file_get_contents($target));
        MultipartParser::remove($temp);
        self::assertSame([$target], $this->tempFiles());

        // Without a boundary: 400, whatever the body.
        $request = new ParsedRequest('POST', '/up', '1.1', [['Host', 'h'], ['Content-Type', 'multipart/form-data']], $body, true);
        try {
            $builder->build($request, new ConnectionMeta(1, '', '', 'web', Mode::FdPassing));
            self::fail('a multipart body without a boundary was accepted');
        } catch (HttpError $e) {
            self::assertSame(400, $e->status);
            self::assertStringContainsString('boundary', $e->getMessage());
        }
    }

    public function testAnEmptyFileInputIsNoFileAndWritesNothing(): void
    {
        $parsed = $this->parser(maxFiles: 1)->parse(self::body([
            [['Content-Disposition: form-data; name="avatar"; filename=""', 'Content-Type: application/octet-stream'], ''],
            [['Content-Disposition: form-data; name="more[]"; filename=""', 'Content-Type: application/octet-stream'], ''],
            [['Content-Disposition: form-data; name="more[]"; filename=""'], ''],
            [['Content-Disposition: form-data; name="real"; filename="r.txt"'], 'r'],
        ]), self::B);
        self::assertSame(['name' => '', 'mime' => 'application/octet-stream', 'size' => 0, 'error' => \UPLOAD_ERR_NO_FILE, 'tmpName' => ''],
            $parsed->files['avatar']);
        self::assertSame([\UPLOAD_ERR_NO_FILE, \UPLOAD_ERR_NO_FILE], array_column($parsed->files['more'], 'error'));
        self::assertSame(\UPLOAD_ERR_OK, $parsed->files['real']['error'], 'empty inputs do not count against max_file_uploads');
        self::assertCount(1, $this->tempFiles());
    }

    public function testBinaryContentWithCrlfNulAndFakeDelimitersIsKeptWhole(): void
    {
        $tricky = "\r\n--" . self::B . 'X'                 // the boundary followed by something else
            . "\r\n--" . substr(self::B, 0, -1) . "\r\n"   // a prefix of the boundary
            . "\n--" . self::B . "\r\n"                    // LF only: not a delimiter
            . 'y--' . self::B . "\r\n"                     // not at a line start
            . "\r\n--" . self::B . " x\r\n"               // spaces, then not CRLF
            . "\0\0\xff\r\n\r\n";
        $file = random_bytes(5000) . $tricky . random_bytes(3000) . "\r\n";
        $field = "v\0l\r\n--" . self::B . "-\r\n";
        $parsed = $this->parser()->parse(self::body([
            [['Content-Disposition: form-data; name="bin"; filename="blob.bin"', 'Content-Type: application/octet-stream'], $file],
            ['name="field"', $field],
            [['Content-Disposition: form-data; name="tail"; filename="t.bin"'], $tricky],
        ]), self::B);
        self::assertSame(hash('sha256', $file), hash_file('sha256', $parsed->files['bin']['tmpName']));
        self::assertSame(\strlen($file), $parsed->files['bin']['size']);
        self::assertSame($field, $parsed->fields['field']);
        self::assertSame($tricky, file_get_contents($parsed->files['tail']['tmpName']));
    }

    public function testQuotedBoundaryParametersPathsAndExtendedFilenames(): void
    {
        $boundary = MultipartParser::boundary('Multipart/Form-Data; charset=utf-8; BOUNDARY="a b:c=\'(d)\'"');
        self::assertSame("a b:c='(d)'", $boundary);
        self::assertSame('plain-42', MultipartParser::boundary('multipart/form-data;boundary=plain-42'));
        self::assertSame('x', MultipartParser::boundary('multipart/form-data; boundary = x ; other=1'));
        $parsed = $this->parser()->parse(self::body([
            [['content-disposition: form-data; name="q\\"x;y"'], 'quoted'],
            [['CONTENT-DISPOSITION: form-data; name=unquoted'], 'bare'],
            [['Content-Disposition: form-data; filename="C:\\Users\\me\\report.pdf"; name="win"'], 'pdf'],
            [['Content-Disposition: form-data; name="unix"; filename="../../etc/passwd"'], 'x'],
            [['Content-Disposition: form-data; name="ext"; filename*=UTF-8\'\'na%C3%AFve%20file.txt'], 'utf8'],
            [['Content-Disposition: form-data; name="both"; filename="plain.txt"; filename*=UTF-8\'\'other.txt'], 'both'],
            [['Content-Disposition: form-data;', ' name="folded"'], 'folded header'],
        ], $boundary), $boundary);
        self::assertSame(['q"x;y' => 'quoted', 'unquoted' => 'bare', 'folded' => 'folded header'], $parsed->fields);
        self::assertSame('report.pdf', $parsed->files['win']['name']);
        self::assertSame('passwd', $parsed->files['unix']['name']);
        self::assertSame('naïve file.txt', $parsed->files['ext']['name']);
        self::assertSame('plain.txt', $parsed->files['both']['name']);
        self::assertSame('pdf', file_get_contents($parsed->files['win']['tmpName']));
    }

    public function testPreambleEpilogueAndPartsWithoutANameAreIgnored(): void
    {
        $body = "This is the preamble.\r\n--" . self::B . "\r\n"
            . "\r\nno headers at all\r\n--" . self::B . "\r\n"
            . "Content-Type: text/plain\r\n\r\nno disposition\r\n--" . self::B . "   \r\n"   // spaces after a delimiter
            . "Content-Disposition: form-data; filename=\"nameless.txt\"\r\n\r\nx\r\n--" . self::B . "\r\n"
            . "Content-Disposition: form-data; name=\"kept\"\r\n\r\nyes\r\n--" . self::B . "\r\n"
            . "Content-Disposition: form-data; name=\"headers-only\"\r\n\r\n--" . self::B . "--\r\n"
            . "epilogue\r\n--" . self::B . "\r\nContent-Disposition: form-data; name=\"after\"\r\n\r\nignored\r\n";
        $parsed = $this->parser()->parse($body, self::B);
        self::assertSame(['kept' => 'yes', 'headers-only' => ''], $parsed->fields);
        self::assertSame([], $parsed->files);
        self::assertSame([], $this->tempFiles());
        self::assertSame([], $this->parser()->parse('', self::B)->fields, 'an empty body has no parts');
        self::assertSame([], $this->parser()->parse('--' . self::B . "--\r\n", self::B)->fields);
    }

    /** @return iterable<string, array{string}> */
    public static function badBoundaries(): iterable
    {
        yield 'none' => ['multipart/form-data'];
        yield 'empty' => ['multipart/form-data; boundary='];
        yield 'empty quoted' => ['multipart/form-data; boundary=""'];
        yield 'another parameter' => ['multipart/form-data; charset=utf-8'];
        yield 'too long' => ['multipart/form-data; boundary=' . str_repeat('b', 201)];
        yield 'control character' => ["multipart/form-data; boundary=\"a\x01b\""];
        yield 'trailing space' => ['multipart/form-data; boundary="ab "'];
        yield 'not ASCII' => ["multipart/form-data; boundary=\xc3\xa9t\xc3\xa9"];
    }

    /** @dataProvider badBoundaries */
    public function testAMissingOrInvalidBoundaryIs400(string $contentType): void
    {
        $this->expectException(HttpError::class);
        $this->expectExceptionCode(400);
        MultipartParser::boundary($contentType);
    }

    /** @return iterable<string, array{string}> */
    public static function malformed(): iterable
    {
        $file = "--" . self::B . "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.bin\"\r\n\r\n" . str_repeat('data', 100);
        yield 'no delimiter' => ['just some bytes'];
        yield 'another boundary' => [self::body([['name="a"', '1']], 'OtherBoundary')];
        yield 'truncated in a file' => [$file];
        yield 'truncated after a file' => [$file . "\r\n--" . self::B];
        yield 'truncated after a file and a CR' => [$file . "\r\n--" . self::B . "\r"];
        yield 'truncated after a file, next part open' => [$file . "\r\n--" . self::B . "\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nabc"];
        yield 'a header without a colon' => [$file . "\r\n--" . self::B . "\r\nContent-Disposition form-data\r\n\r\nx\r\n--" . self::B . "--\r\n"];
        yield 'a header without a name' => [$file . "\r\n--" . self::B . "\r\n: x\r\n\r\nx\r\n--" . self::B . "--\r\n"];
        yield 'no blank line after the headers' => [$file . "\r\n--" . self::B . "\r\nContent-Disposition: form-data; name=\"x\"\r\n--" . self::B . "--\r\n"];
    }

    /** @dataProvider malformed */
    public function testAMalformedBodyIs400AndLeavesNoTempFile(string $body): void
    {
        self::assertStringContainsString('multipart', $this->refused($this->parser(), $body, 400));
    }

    public function testTooManyFilesOrPartsAre413AndLeaveNoTempFile(): void
    {
        $file = static fn (int $i): array => [["Content-Disposition: form-data; name=\"f[]\"; filename=\"$i.txt\""], "file $i"];
        $parser = $this->parser(maxFiles: 2, maxParts: 5);
        self::assertCount(2, $parser->parse(self::body([$file(1), $file(2)]), self::B)->files['f']);
        MultipartParser::remove($this->tempFiles());
        self::assertStringContainsString('more than 2 files', $this->refused($parser, self::body([$file(1), $file(2), $file(3)]), 413));

        $fields = array_map(static fn (int $i): array => ["name=\"k$i\"", "$i"], range(1, 5));
        self::assertCount(5, $parser->parse(self::body($fields), self::B)->fields);
        self::assertStringContainsString('more than 5 parts', $this->refused($parser, self::body([$file(1), ...$fields]), 413));
        // Nameless parts count too.
        self::assertStringContainsString('more than 5 parts', $this->refused($parser, self::body(array_fill(0, 6, [['X-Nothing: 1'], ''])), 413));
    }

    public function testTheLimitsAreHttpOptions(): void
    {
        $options = HttpOptions::fromArray(['max_file_uploads' => 3, 'max_multipart_parts' => 50]);
        self::assertSame([3, 50], [$options->maxFileUploads, $options->maxMultipartParts]);
        $defaults = new HttpOptions();
        self::assertSame([20, 1000], [$defaults->maxFileUploads, $defaults->maxMultipartParts]);
        $this->expectException(\InvalidArgumentException::class);
        HttpOptions::fromArray(['max_multipart_parts' => -1]);
    }

    public function testAnUploadThroughTheWorkerProcess(): void
    {
        $peer = new HandoffPeer(__DIR__ . '/Support/handoff-app.php', 'fd_passing',
            ['TMPDIR' => $this->dir, 'HANDOFF_MAX_FILE_UPLOADS' => '2']);
        $peer->handshake();
        [$client] = $peer->connect();
        $http = new RawHttp($client);
        $upload = static function (string $target, string $body) use (&$http): array {
            $http->write("POST $target HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=\"" . self::B . "\"\r\n"
                . 'Content-Length: ' . \strlen($body) . "\r\n\r\n" . $body);
            return $http->response();
        };

        $bytes = random_bytes(300 * 1024);
        $body = self::body([
            ['name="title"', 'Quarterly numbers'],
            ['name="tags[]"', 'a'],
            ['name="tags[]"', 'b'],
            [['Content-Disposition: form-data; name="doc"; filename="numbers.bin"', 'Content-Type: application/octet-stream'], $bytes],
            [['Content-Disposition: form-data; name="skipped"; filename=""', 'Content-Type: application/octet-stream'], ''],
        ]);
        $response = $upload('/upload', $body);
        self::assertSame(200, $response['status'], $response['body'] . $peer->stderr());
        $echo = json_decode($response['body'], true);
        self::assertSame(['title' => 'Quarterly numbers', 'tags' => ['a', 'b']], $echo['parsed']);
        self::assertSame('', $echo['body']);
        $doc = $echo['files']['doc'];
        self::assertSame(hash('sha256', $bytes), $doc['sha256']);
        self::assertSame([300 * 1024, 'numbers.bin', 'application/octet-stream', \UPLOAD_ERR_OK, true],
            [$doc['size'], $doc['name'], $doc['type'], $doc['error'], $doc['tmp_exists']]);
        self::assertSame('Nyholm\Psr7\UploadedFile', $doc['class']);
        self::assertSame($this->dir, \dirname($doc['tmp']), 'a temp file under sys_get_temp_dir()');
        self::assertSame([\UPLOAD_ERR_NO_FILE, null], [$echo['files']['skipped']['error'], $echo['files']['skipped']['sha256']]);
        $this->waitNoTempFile('after the answer');

        // A temp file the application moved away stays where it went.
        $kept = $this->dir . '-kept.bin';
        try {
            $response = $upload('/upload?rename=' . rawurlencode($kept), self::body([
                [['Content-Disposition: form-data; name="keep"; filename="keep.bin"'], "kept\r\n\0"],
            ]));
            self::assertSame(200, $response['status']);
            self::assertTrue(json_decode($response['body'], true)['files']['keep']['tmp_exists']);
            $this->waitNoTempFile('after a rename');
            self::assertSame("kept\r\n\0", file_get_contents($kept));
        } finally {
            @unlink($kept);
        }

        // Over max_file_uploads (2 here): 413, closed, nothing left behind; the worker goes on.
        $three = array_map(static fn (int $i): array => [["Content-Disposition: form-data; name=\"f[]\"; filename=\"$i\""], str_repeat('x', 1000)], [1, 2, 3]);
        $response = $upload('/upload', self::body($three));
        self::assertSame(413, $response['status']);
        self::assertStringContainsString('more than 2 files', $response['body']);
        self::assertSame('close', $response['headers']['connection']);
        self::assertSame([], $this->tempFiles());
        $http->waitClose();
        fclose($client);
        [$client] = $peer->connect();
        $http = new RawHttp($client);
        $response = $upload('/upload', substr($body, 0, 200 * 1024));   // a truncated body, with its own length
        self::assertSame(400, $response['status']);
        self::assertStringContainsString('no closing boundary', $response['body']);
        self::assertSame([], $this->tempFiles());
        $http->waitClose();
        fclose($client);

        $peer->stop();
        self::assertSame(0, $peer->wait(), $peer->stderr());
        self::assertDoesNotMatchRegularExpression('/warning|notice|deprecated/i', $peer->stderr());
    }

    public function testTheTempFileLastsAsLongAsTheAnswerAndGoesWithTheConnection(): void
    {
        $peer = new HandoffPeer(__DIR__ . '/Support/handoff-app.php', 'fd_passing', ['TMPDIR' => $this->dir]);
        $peer->handshake();
        [$client, $id] = $peer->connect();
        $http = new RawHttp($client);
        // Larger than what the socket buffers hold while the client does not read (4 MiB send buffer at most).
        $bytes = random_bytes(8 << 20);
        $body = self::body([[['Content-Disposition: form-data; name="f"; filename="f.bin"'], $bytes]]);
        $http->write("POST /upload?echo=1 HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary="
            . self::B . "\r\nContent-Length: " . \strlen($body) . "\r\n\r\n" . $body);
        $head = $http->response(true);
        self::assertSame((string) (8 << 20), $head['headers']['content-length']);
        usleep(200000);
        self::assertCount(1, $this->tempFiles(), 'kept while its answer is being written');
        fclose($client);        // the client goes away in the middle of the answer
        $peer->waitClosed($id);
        $this->waitNoTempFile('when the connection is gone');
        $peer->stop();
        self::assertSame(0, $peer->wait(), $peer->stderr());
    }

    public function testAWorkerThatExitsInTheHandlerLeavesNoTempFile(): void
    {
        $peer = new HandoffPeer(__DIR__ . '/Support/handoff-app.php', 'fd_passing', ['TMPDIR' => $this->dir]);
        $peer->handshake();
        [$client] = $peer->connect();
        $body = self::body([[['Content-Disposition: form-data; name="f"; filename="f.bin"'], random_bytes(1000)]]);
        (new RawHttp($client))->write("POST /upload?exit=1 HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary="
            . self::B . "\r\nContent-Length: " . \strlen($body) . "\r\n\r\n" . $body);
        self::assertSame(3, $peer->wait(), $peer->stderr());
        self::assertSame([], $this->tempFiles());
    }

    /** The worker deletes the temp files right after writing the answer: the client may be a little ahead. */
    private function waitNoTempFile(string $when): void
    {
        $deadline = microtime(true) + 5.0;
        while ($this->tempFiles() !== [] && microtime(true) < $deadline) {
            usleep(5000);
        }
        self::assertSame([], $this->tempFiles(), "the temp files are deleted $when");
    }
}
