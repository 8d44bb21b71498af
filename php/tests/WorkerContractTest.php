<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Goridge\Frame;
use Coyote\Goridge\StreamRelay;
use PHPUnit\Framework\TestCase;

/**
 * Pins the exact wire behaviour of the php/workers scripts that the Rust
 * integration tests rely on, byte for byte.
 *
 * Unlike TestWorkersTest this plays the server with its own minimal goridge
 * codec (raw pack/unpack, independent CRC check) instead of the SDK's Frame and
 * StreamRelay, so a bug shared by the SDK's encoder and decoder cannot cancel
 * itself out. Every read has a deadline, so a hung worker fails the test instead
 * of hanging the suite.
 */
final class WorkerContractTest extends TestCase
{
    private const TIMEOUT = 10.0;

    /** @var resource|null */
    private $process = null;
    /** @var resource */
    private $stdin;
    /** @var resource */
    private $stdout;
    private string $stderrFile = '';
    private int $pid = 0;

    protected function tearDown(): void
    {
        if (\is_resource($this->process)) {
            proc_terminate($this->process, 9);
            proc_close($this->process);
        }
        $this->process = null;
        if ($this->stderrFile !== '' && is_file($this->stderrFile)) {
            unlink($this->stderrFile);
        }
        $this->stderrFile = '';
    }

    // ---- independent codec -------------------------------------------------

    /** @param list<int> $options */
    private static function frame(string $payload, int $flags = 0, array $options = [], int $byte10 = 0): string
    {
        $head = pack('CCV', 0x10 | (3 + \count($options)), $flags, \strlen($payload));

        return $head . pack('VCC', crc32($head), $byte10, 0)
            . ($options === [] ? '' : pack('V*', ...$options)) . $payload;
    }

    /** A request as the server sends it: one option = context length. */
    private static function request(string $body, string $context = '{}', int $codec = Frame::CODEC_RAW): string
    {
        return self::frame($context . $body, $codec, [\strlen($context)]);
    }

    // ---- process plumbing ----------------------------------------------------

    /** @param array<string, string> $env */
    private function spawn(string $name, array $env = []): void
    {
        $this->stderrFile = (string) tempnam(sys_get_temp_dir(), 'coyote-stderr');
        $this->process = proc_open(
            [\PHP_BINARY, __DIR__ . "/../workers/$name.php"],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', $this->stderrFile, 'w']],
            $pipes,
            null,
            $env + ['RR_RELAY' => 'pipes', 'RR_MODE' => 'test'] + getenv(),
        );
        self::assertIsResource($this->process);
        [$this->stdin, $this->stdout] = [$pipes[0], $pipes[1]];
        $this->pid = proc_get_status($this->process)['pid'];
    }

    /** Spawns a worker and performs the pid handshake, checking its exact bytes. */
    private function start(string $name, array $env = []): void
    {
        $this->spawn($name, $env);
        $this->write(self::frame('{"pid":' . getmypid() . '}', Frame::CONTROL | Frame::CODEC_JSON));
        self::assertSame(self::frame('{"pid":' . $this->pid . '}', Frame::CONTROL), $this->readFrameBytes());
    }

    private function write(string $bytes): void
    {
        self::assertSame(\strlen($bytes), fwrite($this->stdin, $bytes));
    }

    /** Exactly $length bytes from the worker's stdout, or a failure at the deadline. */
    private function readExactly(int $length, float $timeout = self::TIMEOUT): string
    {
        $data = '';
        $deadline = microtime(true) + $timeout;
        while (\strlen($data) < $length) {
            $left = $deadline - microtime(true);
            $read = [$this->stdout];
            $w = $e = null;
            if ($left <= 0 || stream_select($read, $w, $e, (int) $left, (int) (fmod($left, 1) * 1e6)) === 0) {
                self::fail(sprintf('timed out after %d of %d bytes: %s', \strlen($data), $length, bin2hex($data)));
            }
            $chunk = fread($this->stdout, $length - \strlen($data));
            if ($chunk === '' || $chunk === false) {
                self::fail(sprintf('EOF after %d of %d bytes: %s', \strlen($data), $length, bin2hex($data)));
            }
            $data .= $chunk;
        }

        return $data;
    }

    /** One whole frame's bytes, after checking the header CRC and version independently. */
    private function readFrameBytes(): string
    {
        $head = $this->readExactly(12);
        $h = unpack('Cvl/Cflags/Vlen/Vcrc', $head);
        self::assertSame(1, $h['vl'] >> 4, 'version nibble');
        self::assertSame(crc32(substr($head, 0, 6)), $h['crc'], 'header CRC');

        return $head . $this->readExactly(4 * (($h['vl'] & 0x0f) - 3) + $h['len']);
    }

    /** @return array{flags:int, byte10:int, options:list<int>, payload:string} */
    private function readFrame(): array
    {
        $bytes = $this->readFrameBytes();
        $h = unpack('Cvl/Cflags/Vlen/Vcrc/Cbyte10', $bytes);
        $count = ($h['vl'] & 0x0f) - 3;

        return [
            'flags' => $h['flags'],
            'byte10' => $h['byte10'],
            'options' => $count > 0 ? array_values(unpack("V$count", $bytes, 12)) : [],
            'payload' => substr($bytes, 12 + 4 * $count),
        ];
    }

    /** Waits for the worker to exit and returns its exit code. */
    private function waitExit(float $timeout = self::TIMEOUT): int
    {
        $deadline = microtime(true) + $timeout;
        do {
            $status = proc_get_status($this->process);
            if (!$status['running']) {
                // proc_close() would close the pipes; tearDown() reaps the process.
                return $status['exitcode'];
            }
            usleep(5_000);
        } while (microtime(true) < $deadline);
        self::fail("worker $this->pid still running after {$timeout}s");
    }

    private function assertStaysAlive(float $seconds): void
    {
        usleep((int) ($seconds * 1e6));
        self::assertTrue(proc_get_status($this->process)['running'], 'worker should still be running');
    }

    private function stderr(): string
    {
        return (string) file_get_contents($this->stderrFile);
    }

    // ---- the contract ----------------------------------------------------------

    public function testEchoAnswersWithExactBytesAndCodecZero(): void
    {
        $this->start('echo');
        $this->write(self::request('body', 'ctx', Frame::CODEC_PROTO));
        self::assertSame(self::frame('ctxbody', 0, [3]), $this->readFrameBytes());
        // an empty context and an empty-bodied request both survive
        $this->write(self::request('only-body', ''));
        self::assertSame(self::frame('only-body', 0, [0]), $this->readFrameBytes());
        $this->write(self::request('', 'only-ctx'));
        self::assertSame(self::frame('only-ctx', 0, [8]), $this->readFrameBytes());
    }

    public function testErrorIsAnErrorFrameWithoutOptions(): void
    {
        $this->start('error');
        $this->write(self::request('abc'));
        self::assertSame(self::frame('boom: abc', Frame::ERROR), $this->readFrameBytes());
        // a job error leaves the worker in service
        $this->write(self::request('def'));
        self::assertSame(self::frame('boom: def', Frame::ERROR), $this->readFrameBytes());
    }

    public function testSlowSleepsTheRequestedTime(): void
    {
        $this->start('slow');
        $t = microtime(true);
        $this->write(self::request('150'));
        self::assertSame(self::frame('slept 150', 0, [0]), $this->readFrameBytes());
        self::assertGreaterThanOrEqual(0.15, microtime(true) - $t);
    }

    public function testLeakGrowsByAtLeastOneMebibytePerRequest(): void
    {
        $this->start('leak');
        $usage = [];
        for ($i = 0; $i < 3; $i++) {
            $this->write(self::request('x'));
            $answer = $this->readFrame();
            self::assertSame([0], $answer['options']);
            self::assertMatchesRegularExpression('/^\d+$/', $answer['payload']);
            $usage[] = (int) $answer['payload'];
        }
        self::assertGreaterThanOrEqual(1 << 20, $usage[1] - $usage[0]);
        self::assertGreaterThanOrEqual(1 << 20, $usage[2] - $usage[1]);
    }

    public function testCrashExitsOneWithoutAnswering(): void
    {
        $this->start('crash');
        $this->write(self::request('fine', 'c'));
        self::assertSame(self::frame('cfine', 0, [1]), $this->readFrameBytes());
        $this->write(self::request('crash'));
        self::assertSame(1, $this->waitExit());
        self::assertSame('', stream_get_contents($this->stdout), 'nothing written after the request');
    }

    public function testCrashAtBootFailsBeforeReading(): void
    {
        $this->spawn('crash-at-boot');
        self::assertSame(1, $this->waitExit());
        self::assertSame('', stream_get_contents($this->stdout));
        self::assertSame("crash-at-boot: failing on purpose\n", $this->stderr());
    }

    public function testGarbageCorruptsStdoutThenKeepsServing(): void
    {
        $this->start('garbage');
        $this->write(self::request('garbage'));
        self::assertSame("hello from a stray echo\n", $this->readExactly(24));
        $this->write(self::request('after', 'h'));
        self::assertSame(self::frame('hafter', 0, [1]), $this->readFrameBytes());
    }

    public function testStderrLogsALinePerRequestAndEchoes(): void
    {
        $this->start('stderr');
        $this->write(self::request('one', 'h'));
        self::assertSame(self::frame('hone', 0, [1]), $this->readFrameBytes());
        $this->write(self::request('two'));
        self::assertSame(self::frame('{}two', 0, [2]), $this->readFrameBytes());
        self::assertSame("stderr line: one\nstderr line: two\n", $this->stderr());
    }

    public function testPidAndEnv(): void
    {
        $this->start('pid');
        $this->write(self::request('x', '{"k":"v"}'));
        self::assertSame(self::frame('{"k":"v"}' . $this->pid, 0, [9]), $this->readFrameBytes());
        $this->tearDown();

        $this->start('env', ['RR_RPC' => 'tcp://127.0.0.1:6001', 'RR_VERSION' => '2025.1.15', 'COYOTE_TEST' => 'yes']);
        $this->write(self::request('x'));
        $answer = $this->readFrame();
        self::assertSame([0], $answer['options']);
        self::assertSame([
            'RR_MODE' => 'test',
            'RR_RELAY' => 'pipes',
            'RR_RPC' => 'tcp://127.0.0.1:6001',
            'RR_VERSION' => '2025.1.15',
            'COYOTE_TEST' => 'yes',
        ], json_decode($answer['payload'], true, 4, \JSON_THROW_ON_ERROR));
    }

    public function testEnvReportsUnsetVariablesAsNull(): void
    {
        $env = getenv();
        unset($env['RR_RPC'], $env['RR_VERSION'], $env['COYOTE_TEST']);
        $this->stderrFile = (string) tempnam(sys_get_temp_dir(), 'coyote-stderr');
        $this->process = proc_open(
            [\PHP_BINARY, __DIR__ . '/../workers/env.php'],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', $this->stderrFile, 'w']],
            $pipes,
            null,
            ['RR_RELAY' => 'pipes', 'RR_MODE' => 'http'] + $env,
        );
        [$this->stdin, $this->stdout] = [$pipes[0], $pipes[1]];
        $this->pid = proc_get_status($this->process)['pid'];
        $this->write(self::frame('{"pid":1}', Frame::CONTROL | Frame::CODEC_JSON));
        $this->readFrameBytes();
        $this->write(self::request('x'));
        $decoded = json_decode($this->readFrame()['payload'], true, 4, \JSON_THROW_ON_ERROR);
        self::assertSame('http', $decoded['RR_MODE']);
        self::assertArrayHasKey('RR_RPC', $decoded);
        self::assertNull($decoded['RR_RPC']);
        self::assertNull($decoded['COYOTE_TEST']);
    }

    public function testStopAsksForReplacementThenExitsOnTheStopControlFrame(): void
    {
        $this->start('stop');
        $this->write(self::request('x'));
        self::assertSame(self::frame((string) $this->pid, 0, [0]), $this->readFrameBytes());
        $this->write(self::request('stop'));
        self::assertSame(self::frame('{"stop":true}', 0, [13]), $this->readFrameBytes());
        $this->write(self::frame('{"stop":true}', Frame::CONTROL | Frame::CODEC_JSON));
        self::assertSame(0, $this->waitExit());
    }

    public function testStreamSendsChunksThenAClosingFrameWithPings(): void
    {
        $this->start('stream');
        $this->write(self::request('12', '{"h":1}'));
        for ($i = 0; $i < 12; $i++) {
            $ping = ($i + 1) % 5 === 0 ? Frame::PING : 0;
            $expected = self::frame(($i === 0 ? '{"h":1}' : '') . "chunk-$i\n", 0, [$i === 0 ? 7 : 0], Frame::STREAM | $ping);
            self::assertSame($expected, $this->readFrameBytes(), "chunk $i");
            if ($ping !== 0) {
                // answer like the server: a bare PONG, which the worker must swallow
                $this->write(self::frame('', 0, [], Frame::PONG));
            }
        }
        self::assertSame(self::frame('', 0, [0]), $this->readFrameBytes(), 'closing frame without STREAM');
        // the worker is back in its loop and did not mistake a PONG for a request
        $this->write(self::request('1'));
        self::assertSame(self::frame("{}chunk-0\n", 0, [2], Frame::STREAM), $this->readFrameBytes());
        self::assertSame(self::frame('', 0, [0]), $this->readFrameBytes());
    }

    public function testStreamOfZeroChunksIsOneClosingFrame(): void
    {
        $this->start('stream');
        $this->write(self::request('0'));
        $answer = $this->readFrame();
        self::assertSame(0, $answer['byte10'] & Frame::STREAM, 'the only frame closes the stream');
        self::assertCount(1, $answer['options']);
        self::assertSame('', substr($answer['payload'], $answer['options'][0]), 'no body');
        $this->write(self::request('1'));
        self::assertSame(self::frame("{}chunk-0\n", 0, [2], Frame::STREAM), $this->readFrameBytes());
    }

    public function testStreamCancelEndsWithAnEmptyFrameAndLogsTheIndex(): void
    {
        $this->start('stream', ['STREAM_DELAY_MS' => '100']);
        $this->write(self::request('50'));
        self::assertSame(Frame::STREAM, $this->readFrame()['byte10'] & Frame::STREAM);
        self::assertSame(Frame::STREAM, $this->readFrame()['byte10'] & Frame::STREAM);
        $this->write(self::frame('', 0, [], Frame::STOP));
        $frames = 0;
        do {
            $frame = $this->readFrame();
            self::assertLessThan(5, ++$frames, 'the worker kept streaming after STOP');
        } while (($frame['byte10'] & Frame::STREAM) !== 0);
        self::assertSame('', $frame['payload']);
        self::assertSame(0, $frame['flags'] & Frame::ERROR);
        self::assertMatchesRegularExpression('/^stream stopped at [2-4]\n$/', $this->stderr());
        // still healthy: the next request is served normally
        $this->write(self::request('1'));
        self::assertSame("{}chunk-0\n", $this->readFrame()['payload']);
    }

    public function testHostileBadCrcAndBadVersion(): void
    {
        $this->start('hostile');
        $this->write(self::request('badcrc'));
        $head = $this->readExactly(12);
        self::assertSame(1, \ord($head[0]) >> 4);
        self::assertNotSame(unpack('V', $head, 6)[1], crc32(substr($head, 0, 6)), 'CRC must be wrong');
        $h = unpack('Cvl/Cflags/Vlen', $head);
        $this->readExactly(4 * (($h['vl'] & 0x0f) - 3) + $h['len']); // the rest of the frame follows
        $this->tearDown();

        $this->start('hostile');
        $this->write(self::request('badversion'));
        $head = $this->readExactly(12);
        self::assertSame(2, \ord($head[0]) >> 4, 'version nibble 2');
        self::assertSame(unpack('V', $head, 6)[1], crc32(substr($head, 0, 6)), 'CRC must be valid');
    }

    public function testHostileHugeClaimsFourGibibytes(): void
    {
        $this->start('hostile');
        $this->write(self::request('huge'));
        $head = $this->readExactly(12);
        self::assertSame(unpack('V', $head, 6)[1], crc32(substr($head, 0, 6)), 'CRC must be valid');
        self::assertSame(0xFFFFFFF0, unpack('V', $head, 2)[1]);
        self::assertNotSame('', $this->readExactly(1), 'a few payload bytes follow');
        $this->assertStaysAlive(0.1);
    }

    public function testHostileTruncatedAndHalfSleep(): void
    {
        $this->start('hostile');
        $this->write(self::request('truncated'));
        $partial = $this->readExactly(6);
        self::assertSame(1, \ord($partial[0]) >> 4);
        self::assertSame(0, $this->waitExit());
        self::assertSame('', stream_get_contents($this->stdout), 'exactly 6 bytes, then EOF');

        $this->start('hostile');
        $this->write(self::request('half-sleep'));
        self::assertSame(6, \strlen($this->readExactly(6)));
        $read = [$this->stdout];
        $w = $e = null;
        self::assertSame(0, stream_select($read, $w, $e, 0, 300_000), 'nothing after the 6 bytes');
        $this->assertStaysAlive(0);
    }

    public function testHostileEchoesAnythingElse(): void
    {
        $this->start('hostile');
        $this->write(self::request('hello', 'h'));
        self::assertSame(self::frame('hhello', 0, [1]), $this->readFrameBytes());
    }

    public function testIgnoreStopKeepsServingAfterTheStopFrame(): void
    {
        $this->start('ignore-stop');
        $this->write(self::frame('{"stop":true}', Frame::CONTROL | Frame::CODEC_JSON));
        $this->write(self::request('still-here', 'h'));
        self::assertSame(self::frame('hstill-here', 0, [1]), $this->readFrameBytes());
        fclose($this->stdin);
        $this->assertStaysAlive(0.3);
        proc_terminate($this->process, 9);
        self::assertSame(-1, $this->waitExit(), 'killed by a signal');
    }

    public function testSocketRelaysConnectOverTcpAndUnix(): void
    {
        $tcp = stream_socket_server('tcp://127.0.0.1:0', $errno, $error);
        self::assertIsResource($tcp, $error);
        $this->assertRelayTalksTo($tcp, 'tcp://' . stream_socket_get_name($tcp, false));

        $path = sys_get_temp_dir() . '/coyote-relay-' . getmypid() . '.sock';
        @unlink($path);
        $unix = stream_socket_server("unix://$path", $errno, $error);
        self::assertIsResource($unix, $error);
        try {
            $this->assertRelayTalksTo($unix, "unix://$path");
        } finally {
            fclose($unix);
            @unlink($path);
        }
    }

    /** @param resource $server */
    private function assertRelayTalksTo($server, string $address): void
    {
        $relay = StreamRelay::create($address);
        $peer = stream_socket_accept($server, 5);
        self::assertIsResource($peer);
        fwrite($peer, self::frame('{"pid":7}', Frame::CONTROL | Frame::CODEC_JSON));
        $frame = $relay->receive();
        self::assertSame('{"pid":7}', $frame->payload);
        $relay->send(new Frame('ctxbody', 0, [3]));
        self::assertSame(self::frame('ctxbody', 0, [3]), fread($peer, 100));
        fclose($peer);
    }
}
