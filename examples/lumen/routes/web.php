<?php

declare(strict_types=1);

/** @var Laravel\Lumen\Routing\Router $router */

use Illuminate\Http\Request;
use Symfony\Component\HttpFoundation\Cookie;

$router->get('/users/{id:[0-9]+}', 'UserController@show');

$router->post('/upload', 'FileController@upload');
$router->get('/download', 'FileController@download');
$router->get('/stream', 'FileController@stream');

// What the request looked like to the app: query, header, cookie, client;
// answered with two cookies and a header of our own. (Not a static
// closure: Lumen binds route closures to the application.)
$router->get('/inspect', function (Request $request) {
    return response()
        ->json([
            'q' => $request->query('q'),
            'token' => $request->header('X-Token'),
            'sid' => $request->cookie('sid'),
            'ip' => $request->ip(),
            'host' => $request->getHttpHost(),
            'url' => $request->fullUrl(),
            'secure' => $request->secure(),
        ])
        ->header('X-Served-By', 'lumen')
        ->withCookie(Cookie::create('seen', 'yes'))
        ->withCookie(Cookie::create('theme', 'dark', 0, '/', null, false, false));
});
