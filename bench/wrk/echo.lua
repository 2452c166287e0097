-- wrk script for the "json" case: POST /echo with a ~1 KB JSON object body.
-- Usage: wrk -s bench/wrk/echo.lua http://127.0.0.1:9000/echo
-- The body is a fixed, realistic mix of strings, numbers, booleans, nulls, an array of objects and
-- nested objects, so both servers parse and re-serialise exactly the same bytes.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"id":"7f3c2a9e-4b1d-4c8e-9a6f-2d5e8b1c0a47","type":"order","created_at":"2026-11-23T10:15:30Z","customer":{"id":48213,"name":"Ada Lovelace","email":"ada@example.com","vip":true,"address":{"street":"12 Analytical Engine Way","city":"London","postcode":"NW1 6XE","country":"GB"}},"items":[{"sku":"KLN-0001","title":"Ceramic mug, 350 ml","qty":2,"unit_price":12.5,"tags":["kitchen","gift"]},{"sku":"KLN-0042","title":"Stoneware plate, 27 cm","qty":4,"unit_price":18.75,"tags":["kitchen","tableware"]},{"sku":"KLN-0107","title":"Glazed bowl, large","qty":1,"unit_price":32.0,"tags":["kitchen","serving"]}],"totals":{"subtotal":132.0,"shipping":5.95,"tax":27.59,"total":165.54,"currency":"EUR"},"payment":{"method":"card","brand":"visa","last4":"4242","captured":false},"notes":null,"flags":{"gift_wrap":false,"express":true,"fragile":true},"metadata":{"source":"web","campaign":"winter-sale","ab_bucket":3,"user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"}}]]
