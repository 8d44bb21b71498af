<?php

declare(strict_types=1);

namespace Coyote\Tests;

require_once __DIR__ . '/Support/HandoffPeer.php';

use Coyote\Tests\Support\HandoffPeer;
use PHPUnit\Framework\TestCase;

/**
 * The CallbackWorker (workers/handoff-callback.php) in a real process,
 * with this test as Coyote, in both modes.
 */
final class HandoffCallbackTest extends TestCase
{
    private const WORKER = __DIR__ . '/../workers/handoff-callback.php';

    /** @return iterable<string, array{string}> */
    public static function modes(): iterable
    {
        yield 'fd_passing' => ['fd_passing'];
        yield 'reuseport' => ['reuseport'];
    }

    /** @param resource $client */
    private static function readAll($client): string
    {
        stream_set_timeout($client, (int) HandoffPeer::TIMEOUT);
        $all = stream_get_contents($client);
        self::assertFalse(stream_get_meta_data($client)['timed_out'], 'the worker closed the connection');
        return (string) $all;
    }

    /** @dataProvider modes */
    public function testEachConnectionIsHandedToTheCallbackThenClosedAndReported(string $mode): void
    {
        $peer = new HandoffPeer(self::WORKER, $mode);
        $peer->handshake();
        $ids = [];
        foreach (['one', 'two'] as $i => $line) {
            [$client, $id] = $peer->connect();
            $local = (string) stream_socket_get_name($client, false);
            fwrite($client, "$line\n");
            $answer = self::readAll($client);
            self::assertMatchesRegularExpression('/^hello (\S+) #(\d+)\n' . $line . '\n$/', $answer);
            preg_match('/^hello (\S+) #(\d+)/', $answer, $m);
            self::assertSame($local, $m[1], 'the peer in the meta is the client');
            if ($mode === 'fd_passing') {
                self::assertSame($id, (int) $m[2], "Coyote's id");
                $peer->waitClosed($id);
            } else {
                self::assertSame($i + 1, (int) $m[2], 'ids numbered by the worker');
                $peer->waitReport(static fn (array $r): bool => $r === ['open' => 0, 'accepted' => $i + 1]);
            }
            $ids[] = (int) $m[2];
        }
        if ($mode === 'fd_passing') {
            self::assertSame($ids, $peer->closed);
        }
        $peer->stop();
        self::assertSame(0, $peer->wait(), $peer->stderr());
    }

    public function testAConnectionTakenBeforeTheStopIsServed(): void
    {
        $peer = new HandoffPeer(self::WORKER, 'fd_passing');
        $peer->handshake();
        [$client, $id] = $peer->connect();
        $peer->stop();
        self::assertNull($peer->wait(0.2), 'serving the connection');
        fwrite($client, "late\n");
        self::assertStringEndsWith("late\n", self::readAll($client));
        $peer->waitClosed($id);
        self::assertSame(0, $peer->wait(), $peer->stderr());
    }

    public function testAThrowingCallbackIsLoggedAndTheWorkerGoesOn(): void
    {
        $script = tempnam(sys_get_temp_dir(), 'handoff-cb-');
        file_put_contents($script, '<?php require ' . var_export(__DIR__ . '/../autoload.php', true) . ';'
            . ' (Coyote\Handoff\CallbackWorker::create())->run(function ($s, $meta) {'
            . ' if ($meta->id === 100) { throw new RuntimeException("bad connection"); } fwrite($s, "ok"); });');
        try {
            $peer = new HandoffPeer($script, 'fd_passing');
            $peer->handshake();
            [$first, $firstId] = $peer->connect();
            self::assertSame('', self::readAll($first));
            $peer->waitClosed($firstId);
            [$second] = $peer->connect();
            self::assertSame('ok', self::readAll($second));
            self::assertStringContainsString('RuntimeException: bad connection', $peer->stderr());
        } finally {
            unlink($script);
        }
    }
}
