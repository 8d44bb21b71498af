<?php

declare(strict_types=1);

/*
 * The same Lumen application on Coyote: built once, then every request
 * arrives as an Illuminate\Http\Request through the SDK's HttpFoundation
 * bridge, goes through Lumen's router, middleware and exception handler,
 * and the Symfony response goes back. Uploads are Illuminate UploadedFile
 * objects, valid without is_uploaded_file() (Coyote wrote the temp files).
 */

require __DIR__ . '/../../php/autoload.php';

use Coyote\Http\HttpFoundationWorker;
use Coyote\Http\HttpWorker;
use Coyote\Worker\Worker;
use Illuminate\Http\Request;
use Illuminate\Http\UploadedFile;

$app = require __DIR__ . '/bootstrap/app.php';  // also loads Lumen's autoloaders
$worker = new HttpFoundationWorker(new HttpWorker(Worker::create()), UploadedFile::class, Request::class);

// Lumen compiles its FastRoute dispatcher from the route list on every
// request (under php-fpm the whole app is built per request anyway). The
// app outlives requests here, so it is compiled once, through Lumen's own
// setDispatcher(): about a third of the app's time per request.
$app->setDispatcher(FastRoute\simpleDispatcher(static function (FastRoute\RouteCollector $routes) use ($app): void {
    foreach ($app->router->getRoutes() as $route) {
        $routes->addRoute($route['method'], $route['uri'], $route['action']);
    }
}));

while ($request = $worker->waitRequest()) {
    try {
        $worker->respond($app->handle($request));
    } catch (\Throwable $e) {
        $worker->error((string) $e);
    }
}
