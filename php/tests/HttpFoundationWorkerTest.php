<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Goridge\Frame;
use Coyote\Goridge\RelayClosedException;
use Coyote\Goridge\StreamRelay;
use Coyote\Http\HttpFoundationWorker;
use Coyote\Http\HttpWorker;
use Coyote\Proto\Http\HeaderValue;
use Coyote\Proto\Http\Request as ProtoRequest;
use Coyote\Proto\Http\Response as ProtoResponse;
use Coyote\Worker\Worker;
use PHPUnit\Framework\TestCase;
use Symfony\Component\HttpFoundation\BinaryFileResponse;
use Symfony\Component\HttpFoundation\Cookie;
use Symfony\Component\HttpFoundation\File\UploadedFile;
use Symfony\Component\HttpFoundation\JsonResponse;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\HttpFoundation\StreamedResponse;

require_once 'Symfony/Component/HttpFoundation/autoload.php';  // Debian's php-symfony-http-foundation
require_once 'Illuminate/Http/autoload.php';                   // Debian's php-illuminate-http (a Lumen dependency)

/**
 * Drives the HttpFoundation bridge over the real relay: the requests are
 * goridge frames written to one temp stream (as the server would send
 * them), the worker's answers are read back as frames from another.
 */
final class HttpFoundationWorkerTest extends TestCase
{
    /** @var resource the server's end of the request socket */
    private $server;
    /** @var resource the worker's end */
    private $in;
    /** @var resource what the worker sends */
    private $out;
    /** @var list<string> */
    private array $temps = [];

    protected function setUp(): void
    {
        // Requests go over a socket pair (so the worker's check for a
        // STOP during a stream sees nothing pending, as with a live server);
        // answers go to a temp stream, read back when the test looks.
        [$this->server, $this->in] = stream_socket_pair(\STREAM_PF_UNIX, \STREAM_SOCK_STREAM, \STREAM_IPPROTO_IP);
        $this->out = fopen('php://temp', 'w+b');
    }

    protected function tearDown(): void
    {
        foreach ($this->temps as $path) {
            if (is_file($path)) {
                unlink($path);
            }
        }
    }

    /**
     * The bridge over a worker that will read `$frames` (one per request).
     *
     * @param list<Frame> $frames
     */
    private function bridge(array $frames, string $fileClass = UploadedFile::class, string $requestClass = \Symfony\Component\HttpFoundation\Request::class): HttpFoundationWorker
    {
        $writer = new StreamRelay($this->server, $this->server);
        foreach ($frames as $frame) {
            $writer->send($frame);
        }
        return new HttpFoundationWorker(new HttpWorker(new Worker(new StreamRelay($this->in, $this->out), false)), $fileClass, $requestClass);
    }

    /** @param array<string, mixed> $context */
    private static function json(array $context, string $body = ''): Frame
    {
        $header = json_encode($context, \JSON_THROW_ON_ERROR);
        return new Frame($header . $body, Frame::CODEC_JSON, [\strlen($header)]);
    }

    /** @return list<Frame> every frame the worker sent */
    private function sent(): array
    {
        rewind($this->out);
        $reader = new StreamRelay($this->out, $this->server);
        $frames = [];
        while (true) {
            try {
                $frames[] = $reader->receive();
            } catch (RelayClosedException) {
                return $frames;
            }
        }
    }

    /** @return array{0: array<string, mixed>, 1: string} JSON context and body of one frame */
    private static function answer(Frame $frame): array
    {
        $split = $frame->options[0] ?? 0;
        return [json_decode(substr($frame->payload, 0, $split), true, 512, \JSON_THROW_ON_ERROR), substr($frame->payload, $split)];
    }

    private function upload(string $content): string
    {
        $path = (string) tempnam(sys_get_temp_dir(), 'coyote-upload');
        file_put_contents($path, $content);
        $this->temps[] = $path;
        return $path;
    }

    private const CONTEXT = [
        'remoteAddr' => '10.1.2.3',
        'protocol' => 'HTTP/1.1',
        'method' => 'GET',
        'uri' => 'http://example.test:8080/users/7?page=2&tags[]=a&tags[]=b',
        'headers' => ['X-Token' => ['abc'], 'Accept' => ['application/json', 'text/html'], 'Content-Type' => ['text/plain']],
        'cookies' => ['sid' => 'xyz', 'theme' => 'dark blue'],
        'rawQuery' => 'page=2&tags[]=a&tags[]=b',
        'parsed' => false,
        'attributes' => ['route' => 'users'],
    ];

    private static function assertDescribesTheContext(\Symfony\Component\HttpFoundation\Request $r): void
    {
        self::assertSame('GET', $r->getMethod());
        self::assertSame('/users/7', $r->getPathInfo());
        self::assertSame('/users/7?page=2&tags[]=a&tags[]=b', $r->server->get('REQUEST_URI'));
        self::assertSame('page=2&tags[]=a&tags[]=b', $r->server->get('QUERY_STRING'));
        self::assertSame(['page' => '2', 'tags' => ['a', 'b']], $r->query->all());
        self::assertSame('example.test', $r->getHost());
        self::assertSame(8080, $r->getPort());
        self::assertSame('example.test:8080', $r->headers->get('Host'));
        self::assertFalse($r->isSecure());
        self::assertSame('10.1.2.3', $r->getClientIp());
        self::assertSame('HTTP/1.1', $r->getProtocolVersion());
        self::assertSame('abc', $r->headers->get('X-Token'));
        self::assertSame('application/json, text/html', $r->headers->get('Accept'));
        self::assertSame('text/plain', $r->server->get('CONTENT_TYPE'));
        self::assertSame(['sid' => 'xyz', 'theme' => 'dark blue'], $r->cookies->all());
        self::assertSame('users', $r->attributes->get('route'));
        self::assertSame('http://example.test:8080/users/7?page=2&tags%5B0%5D=a&tags%5B1%5D=b', $r->getUri());
    }

    public function testJsonContextBecomesARequest(): void
    {
        $worker = $this->bridge([
            self::json(self::CONTEXT, 'raw body'),
            new Frame('{"stop":true}', Frame::CONTROL | Frame::CODEC_JSON),
        ]);
        $request = $worker->waitRequest();
        self::assertNotNull($request);
        self::assertDescribesTheContext($request);
        self::assertSame('raw body', $request->getContent());
        self::assertNull($worker->waitRequest(), 'the server stops the worker: the loop ends');
    }

    public function testProtoContextBecomesTheSameRequestAndIsAnsweredInProto(): void
    {
        $lists = static fn (array $map): array => array_map(
            static fn ($v) => new HeaderValue(['value' => \is_array($v) ? $v : [$v]]),
            $map,
        );
        $c = self::CONTEXT;
        $proto = new ProtoRequest([
            'remote_addr' => $c['remoteAddr'], 'protocol' => $c['protocol'], 'method' => $c['method'],
            'uri' => $c['uri'], 'header' => $lists($c['headers']), 'cookies' => $lists($c['cookies']),
            'raw_query' => $c['rawQuery'], 'parsed' => false, 'attributes' => $lists($c['attributes']),
        ]);
        $header = $proto->serializeToString();
        $worker = $this->bridge([new Frame($header . 'raw body', Frame::CODEC_PROTO, [\strlen($header)])]);
        $request = $worker->waitRequest();
        self::assertNotNull($request);
        self::assertDescribesTheContext($request);
        self::assertSame('raw body', $request->getContent());

        $worker->respond(new Response('made', 201, ['X-Made' => 'yes']));
        [$frame] = $this->sent();
        self::assertTrue($frame->hasFlag(Frame::CODEC_PROTO));
        $split = $frame->options[0];
        $response = new ProtoResponse();
        $response->mergeFromString(substr($frame->payload, 0, $split));
        self::assertSame(201, (int) $response->getStatus());
        self::assertSame(['yes'], iterator_to_array($response->getHeaders()['X-Made']->getValue(), false));
        self::assertSame('made', substr($frame->payload, $split));
    }

    public function testHttpsUriAndDefaultPorts(): void
    {
        $worker = $this->bridge([
            self::json(['uri' => 'https://secure.test/a', 'method' => 'GET', 'remoteAddr' => '::1']),
            self::json(['uri' => 'http://[::1]/b', 'method' => 'GET']),
        ]);
        $secure = $worker->waitRequest();
        self::assertTrue($secure->isSecure());
        self::assertSame(443, $secure->getPort());
        self::assertSame('https://secure.test/a', $secure->getUri());
        $v6 = $worker->waitRequest();
        self::assertSame('[::1]', $v6->getHost());
        self::assertSame(80, $v6->getPort());
    }

    public function testParsedFormBodyIsTheRequestBag(): void
    {
        $form = ['user' => ['name' => 'ann', 'roles' => ['admin']], 'plain' => 'x y'];
        $worker = $this->bridge([self::json(
            ['method' => 'POST', 'uri' => 'http://localhost/form', 'parsed' => true, 'headers' => ['Content-Type' => ['application/x-www-form-urlencoded']]],
            json_encode($form),
        )]);
        $request = $worker->waitRequest();
        self::assertSame($form, $request->request->all());
        self::assertSame('', $request->getContent(), 'a parsed body has no raw content');
    }

    public function testWorkerEnvironmentIsKeptWithoutItsHttpVariables(): void
    {
        $_SERVER['HTTP_PROXY'] = 'http://evil.test';
        $_SERVER['COYOTE_TEST_ENV'] = 'kept';
        try {
            $worker = $this->bridge([self::json(['uri' => 'http://localhost/', 'method' => 'GET'])]);
        } finally {
            unset($_SERVER['HTTP_PROXY'], $_SERVER['COYOTE_TEST_ENV']);
        }
        $request = $worker->waitRequest();
        self::assertFalse($request->headers->has('Proxy'));
        self::assertSame('kept', $request->server->get('COYOTE_TEST_ENV'));
        self::assertNull($request->server->get('SCRIPT_FILENAME'));
        self::assertSame('', $request->getBaseUrl());
    }

    public function testUploadsAreUploadedFilesInTestMode(): void
    {
        $doc = $this->upload('hello upload');
        $one = $this->upload('1');
        $two = $this->upload('22');
        $uploads = [
            'doc' => ['name' => 'a.txt', 'mime' => 'text/plain', 'size' => 12, 'error' => 0, 'tmpName' => $doc],
            'many' => [
                ['name' => 'one.bin', 'mime' => '', 'size' => 1, 'error' => 0, 'tmpName' => $one],
                ['name' => 'two.bin', 'mime' => 'application/octet-stream', 'size' => 2, 'error' => 0, 'tmpName' => $two],
            ],
            'empty' => ['name' => '', 'mime' => '', 'size' => 0, 'error' => \UPLOAD_ERR_NO_FILE, 'tmpName' => ''],
            'forbidden' => ['name' => 'x.php', 'mime' => '', 'size' => 5, 'error' => \UPLOAD_ERR_EXTENSION, 'tmpName' => ''],
        ];
        $worker = $this->bridge([self::json(
            ['method' => 'POST', 'uri' => 'http://localhost/up', 'parsed' => true, 'uploads' => $uploads],
            json_encode(['title' => 'doc']),
        )]);
        $request = $worker->waitRequest();
        self::assertSame(['title' => 'doc'], $request->request->all());

        $file = $request->files->get('doc');
        self::assertInstanceOf(UploadedFile::class, $file);
        self::assertTrue($file->isValid(), 'test mode: valid without is_uploaded_file()');
        self::assertSame('a.txt', $file->getClientOriginalName());
        self::assertSame('text/plain', $file->getClientMimeType());
        self::assertSame(12, $file->getSize());
        self::assertSame('hello upload', $file->getContent());
        $moved = $file->move(sys_get_temp_dir(), 'coyote-moved-' . getmypid());
        $this->temps[] = $moved->getPathname();
        self::assertSame('hello upload', file_get_contents($moved->getPathname()));

        $many = $request->files->get('many');
        self::assertCount(2, $many);
        self::assertSame(['one.bin', 'two.bin'], array_map(static fn (UploadedFile $f) => $f->getClientOriginalName(), $many));
        self::assertSame('application/octet-stream', $many[0]->getClientMimeType(), 'no mime: HttpFoundation default');
        self::assertNull($request->files->get('empty'), 'UPLOAD_ERR_NO_FILE is null, as PHP reports it');
        $forbidden = $request->files->get('forbidden');
        self::assertFalse($forbidden->isValid());
        self::assertSame(\UPLOAD_ERR_EXTENSION, $forbidden->getError());
    }

    public function testLaravelClassesForRequestAndUploads(): void
    {
        $doc = $this->upload('laravel');
        $worker = $this->bridge(
            [self::json(
                ['method' => 'POST', 'uri' => 'http://localhost/up?q=1', 'rawQuery' => 'q=1', 'parsed' => true,
                 'uploads' => ['doc' => ['name' => 'l.txt', 'mime' => 'text/plain', 'size' => 7, 'error' => 0, 'tmpName' => $doc]]],
                json_encode(['a' => 'b']),
            )],
            \Illuminate\Http\UploadedFile::class,
            \Illuminate\Http\Request::class,
        );
        $request = $worker->waitRequest();
        self::assertInstanceOf(\Illuminate\Http\Request::class, $request);
        self::assertSame(['a' => 'b', 'q' => '1'], $request->input());
        $file = $request->file('doc');
        self::assertInstanceOf(\Illuminate\Http\UploadedFile::class, $file);
        self::assertTrue($file->isValid(), 'Laravel keeps our instance, so the test mode stays');
        self::assertSame(hash('sha256', 'laravel'), hash_file('sha256', $file->getRealPath()));
    }

    public function testClassesMustBeHttpFoundations(): void
    {
        $this->expectException(\InvalidArgumentException::class);
        new HttpFoundationWorker(new HttpWorker(new Worker(new StreamRelay($this->in, $this->out), false)), \stdClass::class);
    }

    public function testResponseStatusHeadersAndEveryCookie(): void
    {
        $worker = $this->bridge([self::json(['uri' => 'http://localhost/', 'method' => 'GET'])]);
        $worker->waitRequest();
        $response = new JsonResponse(['ok' => true], 202, ['X-Many' => ['a', 'b']]);
        $response->headers->setCookie(Cookie::create('one', '1'));
        $response->headers->setCookie(Cookie::create('two', '2', 0, '/p', null, false, true, false, 'lax'));
        $worker->respond($response);
        [$frame] = $this->sent();
        self::assertSame(0, $frame->stream, 'one frame, not a stream');
        [$context, $body] = self::answer($frame);
        self::assertSame(202, $context['status']);
        self::assertSame(['a', 'b'], $context['headers']['X-Many']);
        self::assertSame(['application/json'], $context['headers']['Content-Type']);
        self::assertSame(['one=1; path=/; httponly; samesite=lax', 'two=2; path=/p; httponly; samesite=lax'], $context['headers']['Set-Cookie']);
        self::assertSame('{"ok":true}', $body);
    }

    public function testLargeBodiesGoInParts(): void
    {
        $worker = $this->bridge([self::json(['uri' => 'http://localhost/', 'method' => 'GET'])]);
        $worker->waitRequest();
        $content = random_bytes((1 << 20) * 2 + 5);
        $worker->respond(new Response($content));
        $frames = $this->sent();
        self::assertCount(4, $frames, 'two full parts, the rest, the end');
        [$context, $first] = self::answer($frames[0]);
        self::assertSame(200, $context['status']);
        $rest = array_map(static fn (Frame $f) => substr($f->payload, $f->options[0] ?? 0), \array_slice($frames, 1));
        self::assertSame($content, $first . implode('', $rest));
        self::assertSame(Frame::STREAM, $frames[2]->stream & Frame::STREAM);
        self::assertSame(0, $frames[3]->stream & Frame::STREAM, 'the last frame ends the stream');
    }

    public function testStreamedResponseIsSentAsItIsProduced(): void
    {
        $worker = $this->bridge([self::json(['uri' => 'http://localhost/', 'method' => 'GET'])]);
        $worker->waitRequest();
        $worker->respond(new StreamedResponse(static function (): void {
            echo 'first;';
            ob_flush();
            echo 'second';
        }, 200, ['X-Stream' => 'yes']));
        $frames = $this->sent();
        self::assertCount(3, $frames);
        [$context, $first] = self::answer($frames[0]);
        self::assertSame(['yes'], $context['headers']['X-Stream']);
        self::assertSame('first;', $first);
        self::assertSame(Frame::STREAM, $frames[0]->stream & Frame::STREAM);
        self::assertSame('second', substr($frames[1]->payload, $frames[1]->options[0]));
        self::assertSame('', substr($frames[2]->payload, $frames[2]->options[0]));
        self::assertSame(0, $frames[2]->stream & Frame::STREAM);
    }

    public function testStreamWithoutOutputIsOneFrame(): void
    {
        $worker = $this->bridge([self::json(['uri' => 'http://localhost/', 'method' => 'GET'])]);
        $worker->waitRequest();
        $worker->respond(new StreamedResponse(static function (): void {
        }, 204));
        $frames = $this->sent();
        self::assertCount(1, $frames);
        self::assertSame(204, self::answer($frames[0])[0]['status']);
    }

    public function testBinaryFileResponseSendsTheFile(): void
    {
        $content = random_bytes((1 << 20) + 100);
        $path = $this->upload($content);
        $worker = $this->bridge([self::json(['uri' => 'http://localhost/', 'method' => 'GET'])]);
        $request = $worker->waitRequest();
        $response = new BinaryFileResponse($path);
        $response->setContentDisposition('attachment', 'data.bin');
        $response->prepare($request);
        $worker->respond($response);
        $frames = $this->sent();
        [$context, $first] = self::answer($frames[0]);
        self::assertSame([(string) \strlen($content)], $context['headers']['Content-Length']);
        self::assertSame(['attachment; filename=data.bin'], $context['headers']['Content-Disposition']);
        $rest = array_map(static fn (Frame $f) => substr($f->payload, $f->options[0] ?? 0), \array_slice($frames, 1));
        self::assertSame($content, $first . implode('', $rest));
    }

    public function testStreamFailingMidwayEndsWithAnErrorFrame(): void
    {
        $worker = $this->bridge([self::json(['uri' => 'http://localhost/', 'method' => 'GET'])]);
        $worker->waitRequest();
        $level = ob_get_level();
        $worker->respond(new StreamedResponse(static function (): void {
            echo 'part';
            ob_flush();
            throw new \RuntimeException('broke midway');
        }));
        self::assertSame($level, ob_get_level(), 'no output buffer left behind');
        $frames = $this->sent();
        self::assertCount(2, $frames);
        self::assertTrue($frames[1]->hasFlag(Frame::ERROR));
        self::assertStringContainsString('broke midway', $frames[1]->payload);
    }

    public function testStreamFailingBeforeOutputThrows(): void
    {
        $worker = $this->bridge([self::json(['uri' => 'http://localhost/', 'method' => 'GET'])]);
        $worker->waitRequest();
        $level = ob_get_level();
        try {
            $worker->respond(new StreamedResponse(static function (): void {
                throw new \RuntimeException('broke early');
            }));
            self::fail('the exception must reach the caller');
        } catch (\RuntimeException $e) {
            self::assertSame('broke early', $e->getMessage());
        }
        self::assertSame($level, ob_get_level());
        self::assertSame([], $this->sent(), 'nothing sent: the caller answers with error()');
    }
}
