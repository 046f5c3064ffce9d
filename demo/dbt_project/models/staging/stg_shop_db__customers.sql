select
    id as customer_id,
    first_name,
    last_name,
    email,
    country,
    created_at,
    updated_at
from {{ source('shop_db', 'customers') }}
