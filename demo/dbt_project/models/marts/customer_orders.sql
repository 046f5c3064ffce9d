-- One row per customer, with their order history summarised. Customers without orders stay in (left
-- join), so the row count equals the number of customers replicated: the DAG's check relies on that.
with orders as (
    select
        customer_id,
        count(*) as order_count,
        count(*) filter (where status in ('paid', 'shipped', 'delivered')) as completed_order_count,
        count(*) filter (where status = 'refunded') as refunded_order_count,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at
    from {{ ref('stg_shop_db__orders') }}
    group by customer_id
)

select
    customers.customer_id,
    customers.first_name || ' ' || customers.last_name as customer_name,
    customers.country,
    coalesce(orders.order_count, 0) as order_count,
    coalesce(orders.completed_order_count, 0) as completed_order_count,
    coalesce(orders.refunded_order_count, 0) as refunded_order_count,
    orders.first_ordered_at,
    orders.last_ordered_at
from {{ ref('stg_shop_db__customers') }} as customers
left join orders on orders.customer_id = customers.customer_id
