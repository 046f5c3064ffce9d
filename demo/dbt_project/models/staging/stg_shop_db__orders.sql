select
    id as order_id,
    customer_id,
    status,
    amount,
    currency,
    ordered_at,
    updated_at
from {{ source('shop_db', 'orders') }}
