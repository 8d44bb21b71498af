<?php

declare(strict_types=1);

// Declares and updates collectors through the SDK's metrics client, and
// logs through the app logger (driven by tests/e2e.rs).

require __DIR__ . '/../../../../php/autoload.php';

use Coyote\RPC\AppLogger;
use Coyote\RPC\Metrics;
use Coyote\RPC\RPC;
use Coyote\RPC\ServiceException;

$rpc = RPC::create();
$m = new Metrics($rpc);
$m->declare('orders', 'counter', 'Orders placed', ['shop']);
$m->add('orders', 3, ['north']);
$m->add('orders', 2, ['north']);
$m->declare('queue_depth', 'gauge', 'Jobs waiting', [], namespace: 'app');
$m->set('queue_depth', 10);
$m->sub('queue_depth', 4);
$m->declare('render_seconds', 'histogram', 'Render time', [], [0.1, 0.5, 1]);
$m->observe('render_seconds', 0.3);
$m->declare('payload_bytes', 'summary', 'Payload sizes', [], objectives: ['0.5' => 0.05, '0.9' => 0.01]);
foreach ([100, 200, 300, 400, 500] as $v) {
    $m->observe('payload_bytes', $v);
}
$m->declare('to_remove', 'gauge');
$m->unregister('to_remove');
try {
    $m->add('never_declared', 1);
    echo "no error\n";
} catch (ServiceException $e) {
    echo $e->getMessage(), "\n";
}
$logger = new AppLogger($rpc);
$logger->warning('hello from the app logger');
$logger->info('with context over protobuf', ['user' => 42, 'route' => '/x']);
echo "done\n";
